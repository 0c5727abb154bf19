#include "io/sentencepiece_model.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <fstream>
#include <iterator>
#include <limits>

#include "util/error.h"

namespace mechlens {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// Reads the fields of one message, handing each (field number, wire type) to `on_field`, which
// consumes the value or returns false to have it skipped.
template <typename OnField>
void read_message(CodedInputStream& in, const std::string& what, const std::string& path, OnField&& on_field) {
  for (uint32_t tag = in.ReadTag(); tag != 0; tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const WireFormatLite::WireType wire = WireFormatLite::GetTagWireType(tag);
    if (on_field(field, wire)) continue;
    MECHLENS_CHECK(InputError, WireFormatLite::SkipField(&in, tag), "{}: {} field {} is damaged (truncated?)", path,
                   what, field);
  }
  MECHLENS_CHECK(InputError, in.ConsumedEntireMessage(),
                 "{}: {} ends inside a field (truncated or not a "
                 "SentencePiece model)",
                 path, what);
}

void expect_wire(WireFormatLite::WireType wire, WireFormatLite::WireType expected, const std::string& path,
                 const std::string& field) {
  MECHLENS_CHECK(InputError, wire == expected, "{}: {} has wire type {}, expected {}", path, field, int(wire),
                 int(expected));
}

uint64_t read_varint(CodedInputStream& in, WireFormatLite::WireType wire, const std::string& path,
                     const std::string& field) {
  expect_wire(wire, WireFormatLite::WIRETYPE_VARINT, path, field);
  uint64_t value = 0;
  MECHLENS_CHECK(InputError, in.ReadVarint64(&value), "{}: {} is truncated", path, field);
  return value;
}

std::string read_bytes(CodedInputStream& in, WireFormatLite::WireType wire, const std::string& path,
                       const std::string& field) {
  expect_wire(wire, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, path, field);
  uint32_t size = 0;
  std::string out;
  MECHLENS_CHECK(InputError, in.ReadVarint32(&size) && in.ReadString(&out, int(size)), "{}: {} is truncated", path,
                 field);
  return out;
}

// A length-delimited sub-message, read by `read` within its limit.
template <typename Read>
void read_sub_message(CodedInputStream& in, WireFormatLite::WireType wire, const std::string& path,
                      const std::string& field, Read&& read) {
  expect_wire(wire, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, path, field);
  uint32_t size = 0;
  MECHLENS_CHECK(InputError, in.ReadVarint32(&size) && int64_t(size) <= in.BytesUntilLimit(),
                 "{}: {} is truncated (its length runs past the end of what holds it)", path, field);
  const CodedInputStream::Limit limit = in.PushLimit(int(size));
  read();
  MECHLENS_CHECK(InputError, in.BytesUntilLimit() == 0, "{}: {} is truncated", path, field);
  in.PopLimit(limit);
}

int64_t read_id(CodedInputStream& in, WireFormatLite::WireType wire, const std::string& path,
                const std::string& field) {
  // int32 fields: -1 (no such token) arrives as a 64-bit two's complement varint.
  return int64_t(int32_t(uint32_t(read_varint(in, wire, path, field))));
}

}  // namespace

SentencePieceModelFile read_sentencepiece_model(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  MECHLENS_CHECK(InputError, file.good(), "{}: cannot open file", path);
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  MECHLENS_CHECK(InputError, !bytes.empty() && bytes.size() < size_t(std::numeric_limits<int>::max()),
                 "{}: {} bytes, expected a SentencePiece model", path, bytes.size());
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()), int(bytes.size()));
  in.PushLimit(int(bytes.size()));  // so that every length can be checked against what is left
  SentencePieceModelFile model;
  read_message(in, "ModelProto", path, [&](int field, WireFormatLite::WireType wire) {
    if (field == 1) {  // repeated SentencePiece pieces
      SentencePieceModelFile::Piece piece;
      const std::string name = "pieces[" + std::to_string(model.pieces.size()) + "]";
      read_sub_message(in, wire, path, name, [&] {
        read_message(in, name, path, [&](int f, WireFormatLite::WireType w) {
          if (f == 1) piece.piece = read_bytes(in, w, path, name + ".piece");
          else if (f == 2) {
            expect_wire(w, WireFormatLite::WIRETYPE_FIXED32, path, name + ".score");
            uint32_t raw = 0;
            MECHLENS_CHECK(InputError, in.ReadLittleEndian32(&raw), "{}: {}.score is truncated", path, name);
            piece.score = WireFormatLite::DecodeFloat(raw);
          } else if (f == 3) piece.type = int(read_varint(in, w, path, name + ".type"));
          else return false;
          return true;
        });
      });
      model.pieces.push_back(std::move(piece));
    } else if (field == 2) {  // TrainerSpec
      read_sub_message(in, wire, path, "trainer_spec", [&] {
        read_message(in, "trainer_spec", path, [&](int f, WireFormatLite::WireType w) {
          if (f == 3) model.model_type = int(read_varint(in, w, path, "trainer_spec.model_type"));
          else if (f == 24)
            model.treat_whitespace_as_suffix = read_varint(in, w, path, "trainer_spec.treat_whitespace_as_suffix") != 0;
          else if (f == 35) model.byte_fallback = read_varint(in, w, path, "trainer_spec.byte_fallback") != 0;
          else if (f == 40) model.unk_id = read_id(in, w, path, "trainer_spec.unk_id");
          else if (f == 41) model.bos_id = read_id(in, w, path, "trainer_spec.bos_id");
          else if (f == 42) model.eos_id = read_id(in, w, path, "trainer_spec.eos_id");
          else return false;
          return true;
        });
      });
    } else if (field == 3) {  // NormalizerSpec
      read_sub_message(in, wire, path, "normalizer_spec", [&] {
        read_message(in, "normalizer_spec", path, [&](int f, WireFormatLite::WireType w) {
          if (f == 1) model.normalizer_name = read_bytes(in, w, path, "normalizer_spec.name");
          else if (f == 2)
            model.has_precompiled_charsmap = !read_bytes(in, w, path, "normalizer_spec.precompiled_charsmap").empty();
          else if (f == 3) model.add_dummy_prefix = read_varint(in, w, path, "normalizer_spec.add_dummy_prefix") != 0;
          else if (f == 4)
            model.remove_extra_whitespaces = read_varint(in, w, path, "normalizer_spec.remove_extra_whitespaces") != 0;
          else if (f == 5)
            model.escape_whitespaces = read_varint(in, w, path, "normalizer_spec.escape_whitespaces") != 0;
          else return false;
          return true;
        });
      });
    } else {
      return false;  // self-test data, the denormalizer: not needed to tokenize
    }
    return true;
  });
  MECHLENS_CHECK(InputError, !model.pieces.empty(), "{}: no pieces (not a SentencePiece model?)", path);
  const int64_t n = int64_t(model.pieces.size());
  MECHLENS_CHECK(InputError, model.unk_id >= 0 && model.unk_id < n, "{}: trainer_spec.unk_id {} is outside 0..{}", path,
                 model.unk_id, n - 1);
  MECHLENS_CHECK(InputError, model.bos_id < n, "{}: trainer_spec.bos_id {} is outside -1..{}", path, model.bos_id,
                 n - 1);
  return model;
}

}  // namespace mechlens
