//===- DataFuzzer.cpp - libFuzzer target: ftc-train's data readers --------===//
//
// The first byte picks a reader, the rest is its file: Fashion-MNIST's idx
// images (0) and labels (1), llm.c's uint16 token files (2), bytes of
// text (3) and UTF-8 text as characters (4: --vocab=chars, which must
// decode back to the same bytes). Each must return its payload or throw
// std::runtime_error.
//
//===----------------------------------------------------------------------===//

#include "Data.h"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace ftc::train_tool;
  if (size == 0)
    return 0;
  std::vector<unsigned char> bytes(data + 1, data + size);
  try {
    std::vector<uint32_t> dims;
    switch (data[0] % 5) {
    case 0: {
      auto pixels = parseIdx(bytes, 0x803, dims, "images");
      size_t count = 1;
      for (uint32_t d : dims)
        count *= d;
      if (count != pixels.size())
        __builtin_trap(); // the dimensions must account for the payload
      break;
    }
    case 1:
      (void)parseIdx(bytes, 0x801, dims, "labels");
      break;
    case 2:
      (void)parseTokens(bytes, /*binary=*/true, "tokens.bin");
      break;
    case 3:
      if (parseTokens(bytes, /*binary=*/false, "text.txt").size() != bytes.size())
        __builtin_trap();
      break;
    default: {
      Vocabulary vocab = Vocabulary::fromText(bytes, "text.txt");
      std::string back;
      for (uint16_t id : vocab.encode(bytes, "text.txt"))
        back += vocab.decode(id);
      if (back != std::string(bytes.begin(), bytes.end()))
        __builtin_trap(); // characters decode to the bytes they came from
    }
    }
  } catch (const std::runtime_error &) {
  }
  return 0;
}
