// Process-wide set-up for CPU inference, called once at the start of the binaries.
// Threads: LibTorch's C++ API starts with one intra-op thread; mechlens uses every core. OpenBLAS is
// installed in its OpenMP flavour, so BLAS calls share LibTorch's OpenMP pool instead of starting a
// second pool that would oversubscribe the cores. Where the pthreads flavour is loaded anyway (another
// package switched the alternative), its own pool is given the same thread count: otherwise it takes
// every core the process may use, oversubscribes, and makes results depend on the CPU affinity.
// Allocator: glibc returns each freed buffer over 128 KiB to the kernel and page-faults the next one
// in again; a forward pass that keeps its activations (a cache) then ran at 0.6x the speed of one
// that does not. Raising the mmap and trim thresholds keeps that memory in the heap for reuse.
#pragma once

namespace mechlens {

/// Sets LibTorch's intra-op threads to `requested_threads` when it is positive (the CLI's --threads),
/// else from MECHLENS_NUM_THREADS, else OMP_NUM_THREADS, else the number of cores this process may
/// use (its CPU affinity), shared with the other `processes_on_machine` (the ranks of an MPI run on
/// this machine), and tunes glibc's allocator as above. Returns the thread count in effect.
int configure_process(int processes_on_machine = 1, int requested_threads = 0);

}  // namespace mechlens
