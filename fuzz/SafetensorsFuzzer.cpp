//===- SafetensorsFuzzer.cpp - libFuzzer target: the safetensors reader ---===//
//
// Any bytes as a safetensors file: parseSafetensors must accept them or
// return an error, and every tensor it accepts must lie inside the file
// (each element is read back, under AddressSanitizer).
//
//===----------------------------------------------------------------------===//

#include "Dtype.h"
#include "Random.h"
#include "Safetensors.h"

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace ftc::runtime;
  std::string error;
  ftc_status status;
  auto file = parseSafetensors(std::vector<char>(data, data + size), "fuzz.safetensors", error,
                               status);
  if (!file)
    return 0;
  double sum = 0.0;
  for (const LoadedTensor &t : file->tensors) {
    (void)describeTensor(t.dtype, t.shape);
    int64_t numel = static_cast<int64_t>(t.bytes / static_cast<size_t>(dtypeBytes(t.dtype)));
    for (int64_t i = 0; i < numel; ++i)
      sum += loadElement(t.dtype, t.data, i);
    (void)file->find(t.name);
  }
  return sum == 1234.5 ? 1 : 0; // keeps the reads
}
