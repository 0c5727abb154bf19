// State dicts written by `torch.save(model.state_dict(), path)`: the zip format PyTorch has written
// since 1.6 (entries data.pkl, data/<key>, version, byteorder), read with LibTorch's own zip reader.
// data.pkl is interpreted by a restricted unpickler that knows only what a state dict needs —
// (Ordered)dicts of names to tensors rebuilt from typed storages — and never imports or calls
// anything else: any other global is refused with its name. float32/64, float16, bfloat16 and the
// integer and bool storages are read (buffers such as attention masks are bool).
#pragma once

#include <string>

#include "io/safetensors.h"  // NamedTensors

namespace mechlens {

/// True when `path` is a regular file named *.pt or *.pth or starting like a zip archive (torch.save's).
bool is_torch_save_file(const std::string& path);

/// Reads the state dict at `path`, in the file's key order; tensors are contiguous copies.
/// Throws CheckpointError naming the file and what was found where a state dict was expected.
NamedTensors read_torch_state_dict(const std::string& path);

}  // namespace mechlens
