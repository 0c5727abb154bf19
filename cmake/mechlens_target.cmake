# Common warnings, sanitizer and PCH settings for every mechlens target.
function(mechlens_configure_target target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
  # GCC 12 reports false positives inside nlohmann::json and LibTorch templates.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
  if(MECHLENS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(MECHLENS_SANITIZER)
    target_compile_options(${target} PRIVATE -fsanitize=${MECHLENS_SANITIZER} -fno-omit-frame-pointer)
    # PUBLIC: a program linking an installed sanitized build needs the sanitizer runtime too.
    target_link_options(${target} PUBLIC -fsanitize=${MECHLENS_SANITIZER})
  endif()
endfunction()

# A library or executable that reuses the shared precompiled header.
function(mechlens_use_pch target)
  mechlens_configure_target(${target})
  target_precompile_headers(${target} REUSE_FROM mechlens_pch)
endfunction()
