// SentencePiece's own model file (tokenizer.model, a ModelProto in protobuf's wire format), read with
// libprotobuf's wire-format reader (the library LibTorch already loads; Debian's libsentencepiece
// cannot be linked beside it). Only the fields that decide how a BPE model tokenizes are kept; the
// field numbers are those of sentencepiece_model.proto.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mechlens {

struct SentencePieceModelFile {
  enum PieceType { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };
  enum ModelType { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };
  struct Piece {
    std::string piece;
    float score = 0;
    int type = kNormal;
  };
  std::vector<Piece> pieces;  // by id
  // TrainerSpec
  int model_type = kUnigram;
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  int64_t unk_id = 0, bos_id = 1, eos_id = 2;
  // NormalizerSpec
  std::string normalizer_name;
  bool has_precompiled_charsmap = false;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

/// Parses `path`. Throws InputError naming the file and the field for a file that is not a valid
/// ModelProto (truncated, a wrong wire type, an id out of range).
SentencePieceModelFile read_sentencepiece_model(const std::string& path);

}  // namespace mechlens
