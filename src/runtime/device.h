// Devices a model runs on: the CPU, or a CUDA GPU where this build's LibTorch has a CUDA backend.
#pragma once

#include <torch/types.h>

#include <string>

namespace mechlens {

/// The device `text` names: "cpu", "cuda" (this process's GPU: GPU local_rank modulo the GPUs
/// visible, so the ranks an MPI launch starts on one node share its GPUs round robin; the first GPU
/// for a single process) or "cuda:N". For CUDA it makes LibTorch's
/// CUDA backend available (loading it beside LibTorch's CPU library when this build did not link it,
/// so binaries start on machines without CUDA) and checks that the GPU exists. Throws InputError
/// naming `what` (the option), the text and the remedy: an unknown device, a flavour without CUDA
/// (Debian's LibTorch), CUDA libraries that do not load, no GPU visible, an index out of range.
/// Call it before other LibTorch work: LibTorch decides once, at its first question about CUDA,
/// whether CUDA is there, so a backend loaded after that stays unused.
torch::Device resolve_device(const std::string& text, const std::string& what = "--device", int local_rank = 0);

/// Which LibTorch this build uses, in words (Debian's 1.13, or a wheel's folder).
std::string torch_flavour();
/// Where --device cuda finds LibTorch's CUDA backend, in words: none in this flavour, or its library.
std::string cuda_backend();

}  // namespace mechlens
