//===- Data.h - batches for ftc-train --------------------------*- C++ -*-===//

#ifndef FTC_TRAIN_DATA_H
#define FTC_TRAIN_DATA_H

#include "ftc.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ftc::train_tool {

/// One input of the model: its description and a buffer for one batch.
struct Input {
  std::string name;
  ftc_dtype dtype;
  std::vector<int64_t> shape; // shape[0] is the batch size
  int64_t numel = 0;
  int64_t high = 0; // integer inputs: valid values are [0, high)
  std::vector<char> data;
};

/// A source of batches, indexed by the global step: batch i of epoch
/// i / batchesPerEpoch().
class Batches {
public:
  virtual ~Batches() = default;
  /// Full batches per epoch; 0 for an endless source.
  virtual int64_t batchesPerEpoch() const = 0;
  /// Fills every input's buffer with batch `index`.
  virtual void fill(int64_t index, std::vector<Input> &inputs) = 0;
};

/// Which Fashion-MNIST examples a run uses.
struct FashionMnistSubset {
  /// The classes kept (labels unchanged), in increasing order; empty: all.
  std::vector<int32_t> classes;
  /// The first `examples` training examples (of the kept classes, in the
  /// file's order); -1: all of them.
  int64_t examples = -1;
};

/// Fashion-MNIST from Debian's dataset-fashion-mnist: images (float, 784
/// values per example, scaled to [0, 1]) and labels (integer), shuffled
/// each epoch with `seed`, optionally restricted to some classes and to the
/// first N training examples (the test split to the same classes). Labels
/// must be below the label input's `high`. Throws std::runtime_error with a
/// message.
class FashionMnist : public Batches {
public:
  static constexpr int32_t numClasses = 10;

  FashionMnist(std::vector<Input> &inputs, uint64_t seed, const std::string &root,
               const FashionMnistSubset &subset = {});
  int64_t batchesPerEpoch() const override;
  void fill(int64_t index, std::vector<Input> &inputs) override;

  /// The test split (of the kept classes) in order, batch by batch: `rows`
  /// of the batch are real (the last batch is padded with copies of its
  /// first row).
  int64_t testBatches() const;
  int64_t fillTest(int64_t batch, std::vector<Input> &inputs) const;
  int32_t testLabel(int64_t example) const { return testLabels[testRows[example]]; }
  int64_t testCount() const { return static_cast<int64_t>(testRows.size()); }
  int64_t trainCount() const { return static_cast<int64_t>(trainRows.size()); }
  /// Training examples of the kept classes before --examples took the first N.
  int64_t trainAvailable() const { return available; }
  /// "classes 0-4" or "classes 0, 2, 7-9"; "all 10 classes" when unrestricted.
  std::string describeClasses() const;
  /// Whether --classes or --examples restricted the data.
  bool subsetted() const { return !classes.empty() || trainCount() != available; }

private:
  int imageInput = -1, labelInput = -1;
  int64_t batch = 0, available = 0;
  uint64_t seed;
  std::vector<int32_t> classes;
  std::vector<float> trainImages, testImages;
  std::vector<int32_t> trainLabels, testLabels;
  std::vector<int64_t> trainRows, testRows; // the examples used, in file order
  int64_t permutationEpoch = -1;
  std::vector<int64_t> permutation;
  void writeRows(const std::vector<float> &images, const std::vector<int32_t> &labels,
                 const int64_t *rows, std::vector<Input> &inputs) const;
};

/// The payload of an idx file's bytes (uncompressed) after checking its
/// magic (`magic & 0xff` dimensions) and that the dimensions account for
/// every byte; `dims` receives them. Throws std::runtime_error naming `path`.
std::vector<unsigned char> parseIdx(const std::vector<unsigned char> &bytes, uint32_t magic,
                                    std::vector<uint32_t> &dims, const std::string &path);

/// The tokens of a text file's bytes: each byte, or (`binary`) uint16
/// little-endian ids as llm.c writes them, after its 256-int32 header when
/// there is one. Throws std::runtime_error naming `path`.
std::vector<uint16_t> parseTokens(const std::vector<unsigned char> &bytes, bool binary,
                                  const std::string &path);

/// "0-4, 7" for sorted class numbers.
std::string describeRanges(const std::vector<int32_t> &values);

/// A safetensors file with one tensor per input, named like it, shaped
/// [N, batch shape...]: batch i is row i mod N. A tensor of another float
/// dtype (f64 features) or integer dtype (i64 labels) is converted; every
/// integer is checked against the model's range for it when the file is
/// opened.
class SafetensorsBatches : public Batches {
public:
  SafetensorsBatches(std::vector<Input> &inputs, const std::string &path);
  ~SafetensorsBatches() override;
  int64_t batchesPerEpoch() const override { return rows; }
  void fill(int64_t index, std::vector<Input> &inputs) override;
  /// The inputs whose tensors had another dtype: "labels from i64 to i32".
  const std::vector<std::string> &conversions() const { return converted; }

private:
  struct File;
  std::unique_ptr<File> file;
  std::vector<std::pair<const char *, ftc_dtype>> sources; // per input: row 0, its dtype
  std::vector<std::string> converted;
  int64_t rows = 0;
};

/// A character vocabulary (--vocab=chars): the sorted set of the Unicode
/// characters of a UTF-8 text, token i standing for chars[i], as nanoGPT's
/// character-level data preparation makes it. Saved as JSON beside a
/// checkpoint (`CKPT.vocab.json`: {"kind": "chars", "chars": "..."}) so that
/// a resumed run and sampling use the same ids.
struct Vocabulary {
  std::vector<char32_t> chars;

  /// Throws std::runtime_error naming `path` for text that is not UTF-8.
  static Vocabulary fromText(const std::vector<unsigned char> &bytes, const std::string &path);
  static Vocabulary fromFile(const std::string &path);
  static Vocabulary load(const std::string &path);
  /// Written to a temporary and renamed over `path`.
  void save(const std::string &path) const;
  /// The ids of a text; a character not in the vocabulary is an error
  /// naming it and its place.
  std::vector<uint16_t> encode(const std::vector<unsigned char> &bytes,
                               const std::string &path) const;
  /// Token `id` as UTF-8.
  std::string decode(uint16_t id) const;
};

/// The Unicode characters of UTF-8 `bytes`; throws naming `path` and the
/// offset of the first byte that is not UTF-8.
std::vector<char32_t> decodeUtf8(const std::vector<unsigned char> &bytes, const std::string &path);
std::string encodeUtf8(char32_t c);

/// Token streams for language models: `--data FILE.txt` (bytes, a
/// vocabulary of 256) or `--data FILE.bin` (uint16 token ids as llm.c writes
/// them, with or without its 256-int32 header). The model needs two integer
/// inputs [B, T], `tokens` and `targets` (else the first two): row b of batch
/// i is a window of T + 1 tokens at an offset drawn from the seed and i,
/// tokens its first T, targets its last T.
///
/// With a held-out fraction f > 0, the last round(f * N) tokens are never
/// trained on: training windows lie in the head, and the tail is cut into
/// consecutive windows (each target token predicted once) evaluated in full
/// batches, the rest of the tail unused.
class TokenStream : public Batches {
public:
  /// With `vocab`, the text is characters of that vocabulary (else bytes,
  /// or ids for .bin). With `validation`, that file's tokens are the
  /// held-out tail (after all of `path`'s), in place of a fraction.
  TokenStream(std::vector<Input> &inputs, const std::string &path, uint64_t seed,
              double holdout = 0.0, const Vocabulary *vocab = nullptr,
              const std::string &validation = "");
  int64_t batchesPerEpoch() const override;
  void fill(int64_t index, std::vector<Input> &inputs) override;
  int64_t vocabulary() const { return vocab; }
  /// Every token of the file; the first trainingTokens() are trained on.
  const std::vector<uint16_t> &tokens() const { return data; }
  int64_t trainingTokens() const { return trainEnd; }

  /// The held-out tail: its tokens, the full batches it fills, and batch b.
  int64_t heldOutTokens() const { return static_cast<int64_t>(data.size()) - trainEnd; }
  int64_t heldOutBatches() const;
  int64_t heldOutPredictions() const { return heldOutBatches() * batch * context; }
  void fillHeldOut(int64_t b, std::vector<Input> &inputs) const;
  /// Token `id` as text: a byte, or the vocabulary's character.
  std::string decode(uint16_t id) const;

private:
  std::vector<uint16_t> data;
  int tokenInput = -1, targetInput = -1;
  int64_t batch = 0, context = 0, vocab = 0, trainEnd = 0;
  uint64_t seed;
  const Vocabulary *chars = nullptr;
  void writeWindow(int64_t row, int64_t offset, std::vector<Input> &inputs) const;
};

/// Random inputs of the right shapes: floats in [0, 1), integers in
/// [0, high); the same for the same seed and batch.
class Synthetic : public Batches {
public:
  Synthetic(std::vector<Input> &inputs, uint64_t seed);
  int64_t batchesPerEpoch() const override { return 0; }
  void fill(int64_t index, std::vector<Input> &inputs) override;

private:
  uint64_t seed;
};

} // namespace ftc::train_tool

#endif // FTC_TRAIN_DATA_H
