//===- Safetensors.h - reading and writing .safetensors files --------------===//
//
// The format: an 8-byte little-endian header length, a JSON header mapping
// each tensor name to {dtype, shape, data_offsets} (and "__metadata__"),
// then the raw little-endian data.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_RUNTIME_SAFETENSORS_H
#define FTC_RUNTIME_SAFETENSORS_H

#include "ftc.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ftc::runtime {

struct TensorView {
  std::string name;
  ftc_dtype dtype;
  std::vector<int64_t> shape;
  const void *data;
  size_t bytes;
};

/// Writes `tensors` to a temporary file beside `path`, then renames it over
/// `path`: readers see the old file or the new one, never half of one.
bool writeSafetensors(const std::string &path, const std::vector<TensorView> &tensors,
                      std::string &error);

/// Files that belong together (an adapter's weights and its config): each
/// is written in full to a temporary file beside its destination first, and
/// only once all are written are they renamed into place, so a failure
/// leaves every destination as it was. Temporaries not committed are
/// removed when the set is destroyed.
class StagedFiles {
public:
  StagedFiles() = default;
  StagedFiles(const StagedFiles &) = delete;
  StagedFiles &operator=(const StagedFiles &) = delete;
  ~StagedFiles();

  bool addSafetensors(const std::string &path, const std::vector<TensorView> &tensors,
                      std::string &error);
  bool addText(const std::string &path, const std::string &text, std::string &error);
  /// Renames every staged file over its destination, in the order added.
  bool commit(std::string &error);

private:
  struct Staged {
    std::string temporary, path;
  };
  std::vector<Staged> files;
};

/// Creates `path` and any missing parents (as `mkdir -p`).
bool makeDirectories(const std::string &path, std::string &error);

/// Whether a file can be created in directory `dir` (one is created and
/// removed again).
bool probeWritable(const std::string &dir, std::string &error);

struct LoadedTensor {
  std::string name;
  ftc_dtype dtype;
  std::vector<int64_t> shape;
  const void *data; // into SafetensorsFile::content
  size_t bytes;
};

struct SafetensorsFile {
  std::vector<char> content;
  std::vector<LoadedTensor> tensors;
  const LoadedTensor *find(const std::string &name) const;
};

/// Reads and validates a whole file; on failure returns null with `error`
/// and `status` (FTC_ERROR_IO or FTC_ERROR_FORMAT) set.
std::unique_ptr<SafetensorsFile> readSafetensors(const std::string &path,
                                                 std::string &error,
                                                 ftc_status &status);

/// The same for a file's `content`, read already (`path` names it in
/// messages); every failure is FTC_ERROR_FORMAT.
std::unique_ptr<SafetensorsFile> parseSafetensors(std::vector<char> content,
                                                  const std::string &path, std::string &error,
                                                  ftc_status &status);

/// "f32".
std::string dtypeName(ftc_dtype dtype);
/// "f32 [1024, 784]".
std::string describeTensor(ftc_dtype dtype, const std::vector<int64_t> &shape);

} // namespace ftc::runtime

#endif // FTC_RUNTIME_SAFETENSORS_H
