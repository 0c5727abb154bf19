#include "io/torch_save.h"

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "util/error.h"

namespace mechlens {
namespace {

// One unpickled object. Containers hold shared pointers because the pickle memo shares objects:
// a dict memoised before its SETITEMS must be the same object the memo returns later.
struct Value;
using ValuePtr = std::shared_ptr<Value>;
enum class Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kStorage, kTensor };

struct Value {
  Kind kind = Kind::kNone;
  int64_t integer = 0;                                 // bool, int
  double number = 0;                                   // float
  std::string text;                                    // string; global as "module.name"
  std::vector<ValuePtr> items;                         // tuple, list
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;  // dict, in insertion order
  torch::Tensor tensor;                                // storage (1-D) or tensor
};

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kTuple:
      return "tuple";
    case Kind::kList:
      return "list";
    case Kind::kDict:
      return "dict";
    case Kind::kGlobal:
      return "global";
    case Kind::kStorage:
      return "storage";
    case Kind::kTensor:
      return "tensor";
  }
  return "?";
}

ValuePtr make(Kind kind) {
  auto value = std::make_shared<Value>();
  value->kind = kind;
  return value;
}

// The storage classes torch.save names in its persistent ids, with the dtype each holds.
std::optional<torch::Dtype> storage_dtype(const std::string& global) {
  static const std::map<std::string, torch::Dtype> kStorages = {
      {"torch.FloatStorage", torch::kFloat32}, {"torch.DoubleStorage", torch::kFloat64},
      {"torch.HalfStorage", torch::kFloat16},  {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.BoolStorage", torch::kBool},     {"torch.LongStorage", torch::kInt64},
      {"torch.IntStorage", torch::kInt32},     {"torch.ShortStorage", torch::kInt16},
      {"torch.CharStorage", torch::kInt8},     {"torch.ByteStorage", torch::kUInt8}};
  const auto found = kStorages.find(global);
  if (found == kStorages.end()) return std::nullopt;
  return found->second;
}

bool is_allowed_global(const std::string& name) {
  return name == "collections.OrderedDict" || name == "torch._utils._rebuild_tensor_v2" ||
         name == "torch._utils._rebuild_parameter" || storage_dtype(name).has_value();
}

// Interprets the pickle opcodes a state dict uses (protocols 2 to 5). Everything else — other
// opcodes, other globals, malformed lengths — ends the read with an error naming the byte offset.
class StateDictUnpickler {
 public:
  StateDictUnpickler(const std::string& bytes, caffe2::serialize::PyTorchStreamReader& archive, std::string where)
      : bytes_(bytes), archive_(archive), where_(std::move(where)) {}

  ValuePtr run() {
    while (true) {
      opcode_at_ = position_;
      const uint8_t opcode = next_byte();
      if (opcode == '.') break;  // STOP
      execute(opcode);
    }
    check(stack_.size() == 1 && marks_.empty(), "the pickle ends with {} objects on its stack, expected 1",
          stack_.size());
    return stack_.back();
  }

 private:
  template <typename... Args>
  void check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
    if (!condition) {
      MECHLENS_FAIL(CheckpointError, "{}: data.pkl at byte {}: {}", where_, opcode_at_,
                    fmt::format(format, std::forward<Args>(args)...));
    }
  }

  uint8_t next_byte() {
    check(position_ < bytes_.size(), "the pickle ends without its STOP opcode");
    return static_cast<uint8_t>(bytes_[position_++]);
  }
  uint64_t little_endian(int width) {
    check(bytes_.size() - position_ >= static_cast<size_t>(width), "truncated: {} more bytes expected", width);
    uint64_t value = 0;
    for (int i = 0; i < width; ++i) value |= uint64_t(static_cast<uint8_t>(bytes_[position_ + i])) << (8 * i);
    position_ += width;
    return value;
  }
  std::string take(uint64_t length) {
    check(length <= bytes_.size() - position_, "a {}-byte string runs past the end of the pickle", length);
    std::string text = bytes_.substr(position_, length);
    position_ += length;
    return text;
  }
  std::string line() {
    const size_t end = bytes_.find('\n', position_);
    check(end != std::string::npos, "a GLOBAL name has no line end");
    std::string text = bytes_.substr(position_, end - position_);
    position_ = end + 1;
    return text;
  }

  ValuePtr pop() {
    check(stack_.size() > (marks_.empty() ? 0 : marks_.back()), "an opcode needs more objects than the stack holds");
    ValuePtr top = stack_.back();
    stack_.pop_back();
    return top;
  }
  ValuePtr& top() {
    check(!stack_.empty(), "an opcode needs an object but the stack is empty");
    return stack_.back();
  }
  std::vector<ValuePtr> pop_to_mark() {
    check(!marks_.empty(), "an opcode needs a MARK that was never set");
    std::vector<ValuePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  void push(ValuePtr value) { stack_.push_back(std::move(value)); }
  void push_int(int64_t value) {
    ValuePtr number = make(Kind::kInt);
    number->integer = value;
    push(number);
  }
  void push_string(std::string text) {
    ValuePtr string = make(Kind::kString);
    string->text = std::move(text);
    push(string);
  }
  void push_global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    check(is_allowed_global(full),
          "refers to {}, which is not part of a state dict; mechlens reads only dicts of tensors "
          "(save model.state_dict(), not the model or other objects) and never runs other pickled code",
          full);
    ValuePtr global = make(Kind::kGlobal);
    global->text = full;
    push(global);
  }
  void memo_put(uint64_t index) { memo_[index] = top(); }
  void memo_get(uint64_t index) {
    const auto found = memo_.find(index);
    check(found != memo_.end(), "memo entry {} is read before it is written", index);
    push(found->second);
  }
  void set_items(ValuePtr& dict, const std::vector<ValuePtr>& items) {
    check(dict->kind == Kind::kDict, "SETITEM(S) on a {}, expected a dict", kind_name(dict->kind));
    check(items.size() % 2 == 0, "SETITEMS with an odd number of objects");
    for (size_t i = 0; i < items.size(); i += 2) dict->entries.emplace_back(items[i], items[i + 1]);
  }
  void push_tuple(std::vector<ValuePtr> items) {
    ValuePtr tuple = make(Kind::kTuple);
    tuple->items = std::move(items);
    push(tuple);
  }

  void execute(uint8_t opcode) {
    switch (opcode) {
      case 0x80:  // PROTO
        next_byte();
        break;
      case 0x95:  // FRAME: a length hint only
        little_endian(8);
        break;
      case '(':  // MARK
        marks_.push_back(stack_.size());
        break;
      case 'N':  // NONE
        push(make(Kind::kNone));
        break;
      case 0x88:    // NEWTRUE
      case 0x89: {  // NEWFALSE
        ValuePtr flag = make(Kind::kBool);
        flag->integer = opcode == 0x88;
        push(flag);
        break;
      }
      case 'J':  // BININT
        push_int(static_cast<int32_t>(little_endian(4)));
        break;
      case 'K':  // BININT1
        push_int(static_cast<int64_t>(little_endian(1)));
        break;
      case 'M':  // BININT2
        push_int(static_cast<int64_t>(little_endian(2)));
        break;
      case 0x8a: {  // LONG1
        const uint64_t width = little_endian(1);
        check(width <= 8, "a {}-byte integer does not fit in 64 bits", width);
        uint64_t value = width == 0 ? 0 : little_endian(static_cast<int>(width));
        if (width > 0 && width < 8 && (value >> (8 * width - 1)) & 1) value |= ~uint64_t(0) << (8 * width);
        push_int(static_cast<int64_t>(value));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian double
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | next_byte();
        ValuePtr number = make(Kind::kFloat);
        std::memcpy(&number->number, &bits, sizeof bits);
        push(number);
        break;
      }
      case 'X':  // BINUNICODE
        push_string(take(little_endian(4)));
        break;
      case 0x8c:  // SHORT_BINUNICODE
        push_string(take(little_endian(1)));
        break;
      case 0x8d:  // BINUNICODE8
        push_string(take(little_endian(8)));
        break;
      case 'c': {  // GLOBAL
        const std::string module = line();
        push_global(module, line());
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const ValuePtr name = pop();
        const ValuePtr module = pop();
        check(module->kind == Kind::kString && name->kind == Kind::kString, "STACK_GLOBAL needs two strings");
        push_global(module->text, name->text);
        break;
      }
      case ')':  // EMPTY_TUPLE
        push_tuple({});
        break;
      case 't':
        push_tuple(pop_to_mark());
        break;
      case 0x85:  // TUPLE1..TUPLE3
      case 0x86:
      case 0x87: {
        std::vector<ValuePtr> items(opcode - 0x84);
        for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
        push_tuple(std::move(items));
        break;
      }
      case ']':  // EMPTY_LIST
        push(make(Kind::kList));
        break;
      case 'a': {  // APPEND
        ValuePtr item = pop();
        check(top()->kind == Kind::kList, "APPEND to a {}", kind_name(top()->kind));
        top()->items.push_back(item);
        break;
      }
      case 'e': {  // APPENDS
        std::vector<ValuePtr> items = pop_to_mark();
        check(top()->kind == Kind::kList, "APPENDS to a {}", kind_name(top()->kind));
        top()->items.insert(top()->items.end(), items.begin(), items.end());
        break;
      }
      case '}':  // EMPTY_DICT
        push(make(Kind::kDict));
        break;
      case 's': {  // SETITEM
        ValuePtr value = pop();
        ValuePtr key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {  // SETITEMS
        std::vector<ValuePtr> items = pop_to_mark();
        set_items(top(), items);
        break;
      }
      case 'q':  // BINPUT
        memo_put(little_endian(1));
        break;
      case 'r':  // LONG_BINPUT
        memo_put(little_endian(4));
        break;
      case 0x94:  // MEMOIZE
        memo_put(memo_.size());
        break;
      case 'h':  // BINGET
        memo_get(little_endian(1));
        break;
      case 'j':  // LONG_BINGET
        memo_get(little_endian(4));
        break;
      case 'Q':  // BINPERSID
        push(persistent_load(pop()));
        break;
      case 'R': {  // REDUCE
        const ValuePtr arguments = pop();
        const ValuePtr callable = pop();
        push(reduce(*callable, *arguments));
        break;
      }
      case 'b': {  // BUILD: the state a dict carries (state_dict's _metadata) is dropped
        const ValuePtr state = pop();
        check(top()->kind == Kind::kDict && (state->kind == Kind::kDict || state->kind == Kind::kNone),
              "BUILD of a {} with a {} state, expected a dict's attributes", kind_name(top()->kind),
              kind_name(state->kind));
        break;
      }
      default:
        check(false, "opcode 0x{:02x} is outside the state-dict subset of the pickle format mechlens reads", opcode);
    }
  }

  // ('storage', StorageClass, key, location, numel) -> the bytes of data/<key> as a 1-D tensor.
  ValuePtr persistent_load(const ValuePtr& id) {
    const auto& fields = id->items;
    check(id->kind == Kind::kTuple && fields.size() == 5 && fields[0]->kind == Kind::kString &&
              fields[0]->text == "storage" && fields[1]->kind == Kind::kGlobal && fields[2]->kind == Kind::kString &&
              fields[4]->kind == Kind::kInt,
          "a persistent id that is not ('storage', type, key, location, numel)");
    const std::string& key = fields[2]->text;
    if (const auto cached = storages_.find(key); cached != storages_.end()) return cached->second;
    const auto dtype = storage_dtype(fields[1]->text);
    check(dtype.has_value(), "storage {} has type {}, expected a typed storage", key, fields[1]->text);
    const int64_t numel = fields[4]->integer;
    const std::string record = "data/" + key;
    check(numel >= 0 && archive_.hasRecord(record), "storage {} ({} elements) has no entry '{}' in the archive", key,
          numel, record);
    auto [data, bytes] = archive_.getRecord(record);
    const size_t element = torch::elementSize(*dtype);
    check(static_cast<uint64_t>(numel) <= bytes / element,
          "entry '{}' holds {} bytes, expected {} elements of {} bytes", record, bytes, numel, element);
    ValuePtr storage = make(Kind::kStorage);
    storage->tensor = torch::empty({numel}, torch::TensorOptions().dtype(*dtype));
    if (numel > 0) std::memcpy(storage->tensor.data_ptr(), data.get(), numel * element);
    storages_[key] = storage;
    return storage;
  }

  std::vector<int64_t> int_tuple(const Value& value, const char* what) {
    check(value.kind == Kind::kTuple, "a tensor's {} is a {}, expected a tuple of ints", what, kind_name(value.kind));
    std::vector<int64_t> numbers;
    for (const ValuePtr& item : value.items) {
      check(item->kind == Kind::kInt && item->integer >= 0, "a tensor's {} holds a {}, expected non-negative ints",
            what, kind_name(item->kind));
      numbers.push_back(item->integer);
    }
    return numbers;
  }

  ValuePtr reduce(const Value& callable, const Value& arguments) {
    check(callable.kind == Kind::kGlobal && arguments.kind == Kind::kTuple, "REDUCE of a {} with {} arguments",
          kind_name(callable.kind), kind_name(arguments.kind));
    const auto& args = arguments.items;
    if (callable.text == "collections.OrderedDict") {
      check(args.empty(), "OrderedDict(...) with {} arguments, expected none", args.size());
      return make(Kind::kDict);
    }
    if (callable.text == "torch._utils._rebuild_parameter") {
      check(args.size() == 3 && args[0]->kind == Kind::kTensor, "_rebuild_parameter needs (tensor, bool, hooks)");
      return args[0];
    }
    if (callable.text == "torch._utils._rebuild_tensor_v2") {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      check((args.size() == 6 || args.size() == 7) && args[0]->kind == Kind::kStorage && args[1]->kind == Kind::kInt,
            "_rebuild_tensor_v2 needs (storage, offset, size, stride, requires_grad, hooks)");
      const std::vector<int64_t> size = int_tuple(*args[2], "size");
      const std::vector<int64_t> stride = int_tuple(*args[3], "stride");
      check(size.size() == stride.size(), "a tensor with {} sizes and {} strides", size.size(), stride.size());
      const torch::Tensor& storage = args[0]->tensor;
      const int64_t offset = args[1]->integer;
      // The last element the view touches must lie inside the storage.
      bool empty = false;
      int64_t last = offset;
      for (size_t d = 0; d < size.size(); ++d) {
        empty = empty || size[d] == 0;
        if (size[d] > 0) {
          check(stride[d] == 0 || (size[d] - 1) <= (INT64_MAX - last) / stride[d], "a tensor's extent overflows");
          last += (size[d] - 1) * stride[d];
        }
      }
      check(offset >= 0 && (empty || last < storage.numel()),
            "a tensor of size [{}] at offset {} reaches element {} of a {}-element storage", fmt::join(size, ", "),
            offset, last, storage.numel());
      ValuePtr tensor = make(Kind::kTensor);
      tensor->tensor =
          empty ? torch::empty(size, storage.options()) : storage.as_strided(size, stride, offset).contiguous();
      return tensor;
    }
    check(false, "REDUCE of {}, which builds no part of a state dict", callable.text);
    return nullptr;
  }

  const std::string& bytes_;
  caffe2::serialize::PyTorchStreamReader& archive_;
  std::string where_;
  size_t position_ = 0;
  size_t opcode_at_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;  // stack sizes at each MARK
  std::map<uint64_t, ValuePtr> memo_;
  std::map<std::string, ValuePtr> storages_;  // by key: tensors that share a storage share its copy
};

std::string record_text(caffe2::serialize::PyTorchStreamReader& archive, const std::string& name) {
  auto [data, bytes] = archive.getRecord(name);
  return std::string(static_cast<const char*>(data.get()), bytes);
}

}  // namespace

bool is_torch_save_file(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return false;
  const std::string extension = std::filesystem::path(path).extension().string();
  if (extension == ".pt" || extension == ".pth") return true;  // damaged ones are reported as such
  std::ifstream file(path, std::ios::binary);
  char magic[4] = {};
  file.read(magic, sizeof magic);
  return file.gcount() == 4 && std::memcmp(magic, "PK\x03\x04", 4) == 0;
}

NamedTensors read_torch_state_dict(const std::string& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> archive;
  std::string pickle;
  try {
    archive = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    MECHLENS_CHECK(CheckpointError, archive->hasRecord("data.pkl"),
                   "{}: a zip archive without data.pkl; expected a file written by torch.save", path);
    if (archive->hasRecord("byteorder")) {
      const std::string order = record_text(*archive, "byteorder");
      MECHLENS_CHECK(CheckpointError, order == "little", "{}: byteorder is '{}', expected 'little'", path, order);
    }
    pickle = record_text(*archive, "data.pkl");
  } catch (const c10::Error& e) {
    MECHLENS_FAIL(CheckpointError, "{}: not a readable torch.save archive: {}", path, e.what_without_backtrace());
  }

  ValuePtr root;
  try {
    root = StateDictUnpickler(pickle, *archive, path).run();
  } catch (const c10::Error& e) {
    MECHLENS_FAIL(CheckpointError, "{}: a storage entry could not be read: {}", path, e.what_without_backtrace());
  }
  MECHLENS_CHECK(CheckpointError, root->kind == Kind::kDict, "{}: holds a {}, expected a state dict (name -> tensor)",
                 path, kind_name(root->kind));
  NamedTensors tensors;
  for (const auto& [key, value] : root->entries) {
    MECHLENS_CHECK(CheckpointError, key->kind == Kind::kString, "{}: a state-dict key is a {}, expected a string", path,
                   kind_name(key->kind));
    MECHLENS_CHECK(CheckpointError, value->kind == Kind::kTensor,
                   "{}: entry '{}' holds a {}, expected a tensor; save model.state_dict() itself, not a dict "
                   "around it",
                   path, key->text, kind_name(value->kind));
    tensors.emplace_back(key->text, value->tensor);
  }
  return tensors;
}

}  // namespace mechlens
