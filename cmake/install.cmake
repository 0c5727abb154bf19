# `cmake --install`: the mechlens binary, the libraries and their headers, and an exported package
# so that a C++ program can use mechlens with find_package(mechlens) and link mechlens::mechlens
# (docs/examples/ is such a program). Headers keep the paths they are included by
# ("runtime/model.h", "hooks/hook_point.h", "patching/patching.h") under include/mechlens/.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(mechlens_libraries mechlens_util mechlens_parallel mechlens_hooks mechlens_runtime mechlens_io mechlens_store mechlens_data
    mechlens_train mechlens_analysis_core mechlens_analyses mechlens_export mechlens_view)
foreach(library ${mechlens_libraries})
  string(REPLACE "mechlens_" "" short_name ${library})
  set_target_properties(${library} PROPERTIES EXPORT_NAME ${short_name})  # mechlens::runtime, ...
endforeach()
# One target for "all of mechlens": mechlens::mechlens.
add_library(mechlens_sdk INTERFACE)
target_link_libraries(mechlens_sdk INTERFACE ${mechlens_libraries})
set_target_properties(mechlens_sdk PROPERTIES EXPORT_NAME mechlens)

install(TARGETS ${mechlens_libraries} mechlens_sdk EXPORT mechlensTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS mechlens RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
set(header_root ${CMAKE_INSTALL_INCLUDEDIR}/mechlens)
foreach(folder src/util src/parallel src/runtime src/io src/store src/train src/export src/view hooks data/tasks analyses/core analyses/patching
               analyses/ablation)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${folder} DESTINATION ${header_root} FILES_MATCHING PATTERN "*.h")
endforeach()

set(package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/mechlens)
install(EXPORT mechlensTargets NAMESPACE mechlens:: DESTINATION ${package_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mechlensConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/mechlensConfig.cmake INSTALL_DESTINATION ${package_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mechlensConfigVersion.cmake VERSION ${PROJECT_VERSION}
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mechlensConfig.cmake ${PROJECT_BINARY_DIR}/mechlensConfigVersion.cmake
        DESTINATION ${package_dir})
