//===- Data.cpp - batches for ftc-train -----------------------------------===//

#include "Data.h"

#include "Random.h"
#include "Safetensors.h"

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace ftc::train_tool {

using runtime::Generator;
using runtime::storeElement;

namespace {

/// The payload of an idx file (gzip-compressed), after checking its magic.
std::vector<unsigned char> readIdx(const std::string &path, uint32_t magic,
                                   std::vector<uint32_t> &dims) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f)
    throw std::runtime_error("cannot open '" + path +
                             "' (install Debian's dataset-fashion-mnist)");
  std::vector<unsigned char> bytes;
  unsigned char buffer[1 << 16];
  int n;
  while ((n = gzread(f, buffer, sizeof(buffer))) > 0)
    bytes.insert(bytes.end(), buffer, buffer + n);
  int err = 0;
  const char *message = gzerror(f, &err);
  std::string why = message ? message : "";
  gzclose(f);
  if (n < 0 || err < 0)
    throw std::runtime_error("cannot read '" + path + "': " + why);
  return parseIdx(bytes, magic, dims, path);
}

void loadSplit(const std::string &root, const std::string &prefix,
               std::vector<float> &images, std::vector<int32_t> &labels) {
  std::vector<uint32_t> imageDims, labelDims;
  auto pixels = readIdx(root + "/" + prefix + "-images-idx3-ubyte.gz", 0x803, imageDims);
  auto classes = readIdx(root + "/" + prefix + "-labels-idx1-ubyte.gz", 0x801, labelDims);
  if (imageDims[0] != labelDims[0] || uint64_t(imageDims[1]) * imageDims[2] != 784)
    throw std::runtime_error("Fashion-MNIST " + prefix + " images and labels do not match");
  images.resize(pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i)
    images[i] = pixels[i] / 255.0f; // as torchvision's ToTensor
  labels.assign(classes.begin(), classes.end());
}

/// 0.1 as "0.1", not "0.100000".
std::string fmtFraction(double f) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", f);
  return text;
}

bool isFloat(ftc_dtype d) { return d == FTC_F32 || d == FTC_F64 || d == FTC_F16 || d == FTC_BF16; }
} // namespace

std::vector<unsigned char> parseIdx(const std::vector<unsigned char> &bytes, uint32_t magic,
                                    std::vector<uint32_t> &dims, const std::string &path) {
  auto be32 = [&](size_t at) {
    return (uint32_t(bytes[at]) << 24) | (uint32_t(bytes[at + 1]) << 16) |
           (uint32_t(bytes[at + 2]) << 8) | uint32_t(bytes[at + 3]);
  };
  size_t rank = magic & 0xff;
  if (bytes.size() < 4 + 4 * rank || be32(0) != magic)
    throw std::runtime_error("'" + path + "' is not an idx file of the expected kind");
  dims.clear();
  size_t header = 4 + 4 * rank, payload = bytes.size() - header, count = 1;
  for (size_t i = 0; i < rank; ++i) {
    dims.push_back(be32(4 + 4 * i));
    // The product checked as it grows: dimensions claiming more than the
    // file holds are an error, not an overflow.
    if (dims.back() && count > payload / dims.back())
      count = payload + 1;
    else
      count *= dims.back();
  }
  if (payload != count)
    throw std::runtime_error("'" + path + "' is truncated or damaged: " +
                             std::to_string(payload) + " bytes after the header, " +
                             (count > payload ? "more" : std::to_string(count)) +
                             " expected from its dimensions");
  return std::vector<unsigned char>(bytes.begin() + header, bytes.end());
}

std::vector<uint16_t> parseTokens(const std::vector<unsigned char> &bytes, bool binary,
                                  const std::string &path) {
  if (!binary)
    return std::vector<uint16_t>(bytes.begin(), bytes.end());
  size_t start = 0, count = bytes.size() / 2;
  auto word = [&](size_t i) {
    int32_t v;
    std::memcpy(&v, bytes.data() + 4 * i, 4);
    return v;
  };
  if (bytes.size() >= 1024 && word(0) == 20240520) { // llm.c's header
    start = 1024;
    int32_t promised = word(2);
    if (promised < 0 || static_cast<size_t>(promised) > (bytes.size() - start) / 2)
      throw std::runtime_error("'" + path + "' is truncated: its header promises " +
                               std::to_string(promised) + " tokens");
    count = static_cast<size_t>(promised);
  } else if (bytes.size() % 2) {
    throw std::runtime_error("'" + path + "' has an odd number of bytes: not uint16 tokens");
  }
  std::vector<uint16_t> tokens(count);
  if (count)
    std::memcpy(tokens.data(), bytes.data() + start, 2 * count);
  return tokens;
}

std::string describeRanges(const std::vector<int32_t> &values) {
  std::string out;
  for (size_t i = 0; i < values.size();) {
    size_t j = i;
    while (j + 1 < values.size() && values[j + 1] == values[j] + 1)
      ++j;
    out += (out.empty() ? "" : ", ") + std::to_string(values[i]);
    if (j > i)
      out += "-" + std::to_string(values[j]);
    i = j + 1;
  }
  return out;
}

FashionMnist::FashionMnist(std::vector<Input> &inputs, uint64_t seed,
                           const std::string &root, const FashionMnistSubset &subset)
    : seed(seed), classes(subset.classes) {
  for (int i = 0; i < static_cast<int>(inputs.size()); ++i) {
    const Input &in = inputs[i];
    if (isFloat(in.dtype) && !in.shape.empty() && in.numel == in.shape[0] * 784)
      imageInput = i;
    else if (!isFloat(in.dtype) && in.shape.size() == 1)
      labelInput = i;
  }
  if (imageInput < 0 || labelInput < 0 ||
      inputs[imageInput].shape[0] != inputs[labelInput].shape[0])
    throw std::runtime_error("--data fashion-mnist needs a model with a float input of "
                             "[B, 784] (or [B, 28, 28]) values and an integer input of "
                             "[B] labels");
  batch = inputs[imageInput].shape[0];

  // The labels stay Fashion-MNIST's: each must be a class of the model.
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  for (int32_t c : classes)
    if (c < 0 || c >= numClasses)
      throw std::runtime_error("--classes " + std::to_string(c) +
                               ": Fashion-MNIST's classes are 0-9");
  const Input &label = inputs[labelInput];
  int32_t largest = classes.empty() ? numClasses - 1 : classes.back();
  if (label.high > 0 && largest >= label.high) {
    std::string takes = "the model's label input '" + label.name + "' takes " +
                        std::to_string(label.high) + " classes (labels 0-" +
                        std::to_string(label.high - 1) + ")";
    if (classes.empty())
      throw std::runtime_error(takes + "; Fashion-MNIST has 10: train on some of them "
                                       "with --classes (e.g. --classes 0-" +
                               std::to_string(label.high - 1) + ")");
    std::vector<int32_t> beyond;
    for (int32_t c : classes)
      if (c >= label.high)
        beyond.push_back(c);
    throw std::runtime_error("--classes " + describeRanges(classes) + ": " + takes +
                             ", not " + describeRanges(beyond));
  }

  loadSplit(root, "train", trainImages, trainLabels);
  loadSplit(root, "t10k", testImages, testLabels);
  std::vector<bool> keep(numClasses, classes.empty());
  for (int32_t c : classes)
    keep[c] = true;
  auto select = [&](const std::vector<int32_t> &labels, std::vector<int64_t> &rows) {
    for (size_t i = 0; i < labels.size(); ++i)
      if (labels[i] >= 0 && labels[i] < numClasses && keep[labels[i]])
        rows.push_back(static_cast<int64_t>(i));
  };
  select(trainLabels, trainRows);
  select(testLabels, testRows);
  available = trainCount();
  std::string ofClasses = classes.empty() ? "" : " of " + describeClasses();
  if (subset.examples >= 0) {
    if (subset.examples > available)
      throw std::runtime_error("--examples " + std::to_string(subset.examples) +
                               ": the training split holds " + std::to_string(available) +
                               " examples" + ofClasses);
    trainRows.resize(subset.examples);
  }
  if (trainCount() < batch)
    throw std::runtime_error(
        (subset.examples >= 0 ? "--examples " + std::to_string(subset.examples)
                              : "the training split" + ofClasses + " (" +
                                    std::to_string(trainCount()) + " examples)") +
        " is less than one batch of " + std::to_string(batch) +
        " examples: batches are always full");
}

std::string FashionMnist::describeClasses() const {
  if (classes.empty())
    return "all 10 classes";
  return (classes.size() == 1 ? "class " : "classes ") + describeRanges(classes);
}

int64_t FashionMnist::batchesPerEpoch() const {
  return trainCount() / batch; // the last partial batch is dropped
}

void FashionMnist::writeRows(const std::vector<float> &images,
                             const std::vector<int32_t> &labels, const int64_t *rows,
                             std::vector<Input> &inputs) const {
  Input &img = inputs[imageInput];
  Input &lab = inputs[labelInput];
  for (int64_t r = 0; r < batch; ++r) {
    for (int64_t p = 0; p < 784; ++p)
      storeElement(img.dtype, img.data.data(), r * 784 + p, images[rows[r] * 784 + p]);
    storeElement(lab.dtype, lab.data.data(), r, labels[rows[r]]);
  }
}

void FashionMnist::fill(int64_t index, std::vector<Input> &inputs) {
  int64_t perEpoch = batchesPerEpoch();
  int64_t epoch = index / perEpoch;
  if (epoch != permutationEpoch) {
    // A fresh shuffle per epoch (Fisher-Yates) of the examples used, from
    // the seed and the epoch.
    Generator gen(seed, "fashion-mnist epoch " + std::to_string(epoch));
    permutation = trainRows;
    for (size_t i = permutation.size() - 1; i > 0; --i)
      std::swap(permutation[i], permutation[gen.next() % (i + 1)]);
    permutationEpoch = epoch;
  }
  writeRows(trainImages, trainLabels, &permutation[(index % perEpoch) * batch], inputs);
}

int64_t FashionMnist::testBatches() const { return (testCount() + batch - 1) / batch; }

int64_t FashionMnist::fillTest(int64_t b, std::vector<Input> &inputs) const {
  std::vector<int64_t> rows(batch);
  int64_t real = std::min(batch, testCount() - b * batch);
  for (int64_t r = 0; r < batch; ++r)
    rows[r] = testRows[b * batch + (r < real ? r : 0)];
  writeRows(testImages, testLabels, rows.data(), inputs);
  return real;
}

struct SafetensorsBatches::File {
  std::unique_ptr<runtime::SafetensorsFile> contents;
};

namespace {
bool isInteger(ftc_dtype d) { return !isFloat(d); }

/// The values an integer dtype holds (i64's bounds rounded to doubles).
template <typename T> std::pair<double, double> limitsOf() {
  return {static_cast<double>(std::numeric_limits<T>::min()),
          static_cast<double>(std::numeric_limits<T>::max())};
}
std::pair<double, double> dtypeRange(ftc_dtype d) {
  switch (d) {
  case FTC_U8:
    return limitsOf<uint8_t>();
  case FTC_I8:
    return limitsOf<int8_t>();
  case FTC_I32:
    return limitsOf<int32_t>();
  default:
    return limitsOf<int64_t>();
  }
}

/// An input's shape [64] as "[N, 64]": that of a file holding N batches.
std::string batchedShape(const Input &in) {
  std::string text = "[N";
  for (int64_t d : in.shape)
    text += ", " + std::to_string(d);
  return text + "]";
}
} // namespace

SafetensorsBatches::SafetensorsBatches(std::vector<Input> &inputs, const std::string &path)
    : file(std::make_unique<File>()) {
  std::string error;
  ftc_status status;
  file->contents = runtime::readSafetensors(path, error, status);
  if (!file->contents) {
    // A tensor of an input that ftc cannot read: say what the input takes.
    for (const Input &in : inputs)
      if (error.rfind("tensor '" + in.name + "' ", 0) == 0)
        error += "; the model's input '" + in.name + "' is " +
                 runtime::describeTensor(in.dtype, in.shape);
    throw std::runtime_error(error);
  }
  for (const Input &in : inputs) {
    const runtime::LoadedTensor *t = file->contents->find(in.name);
    if (!t)
      throw std::runtime_error("'" + path + "' has no tensor '" + in.name +
                               "' for the model input of that name");
    std::string expected = runtime::dtypeName(in.dtype) + " " + batchedShape(in);
    if (t->shape.size() != in.shape.size() + 1 ||
        !std::equal(in.shape.begin(), in.shape.end(), t->shape.begin() + 1))
      throw std::runtime_error("tensor '" + in.name + "' in '" + path + "' is " +
                               runtime::describeTensor(t->dtype, t->shape) + "; expected " +
                               expected);
    // Another dtype of the same kind converts (int64 labels as PyTorch
    // writes them, f64 features); floats for integers or the reverse do not.
    if (t->dtype != in.dtype && isInteger(t->dtype) != isInteger(in.dtype))
      throw std::runtime_error("tensor '" + in.name + "' in '" + path + "' is " +
                               runtime::describeTensor(t->dtype, t->shape) + "; expected " +
                               expected + (isInteger(in.dtype)
                                               ? " (integers: i64, i32, i8 or u8 convert)"
                                               : " (floats: f64, f16 or bf16 convert)"));
    if (rows && t->shape[0] != rows)
      throw std::runtime_error("the tensors in '" + path +
                               "' hold different numbers of batches");
    rows = t->shape[0];
    // Every integer checked now, before any step: against the model's
    // range where it has one (class labels, token ids), else against the
    // input's dtype.
    if (isInteger(in.dtype)) {
      auto [low, high] = dtypeRange(in.dtype);
      if (in.high > 0) {
        low = 0.0;
        high = static_cast<double>(in.high - 1);
      }
      int64_t numel = t->shape[0] * in.numel;
      for (int64_t i = 0; i < numel; ++i) {
        double v = runtime::loadElement(t->dtype, t->data, i);
        if (v < low || v > high)
          throw std::runtime_error(
              "tensor '" + in.name + "' in '" + path + "' holds " +
              std::to_string(static_cast<int64_t>(v)) + " in batch " +
              std::to_string(i / in.numel) + " at element " + std::to_string(i % in.numel) +
              "; the model's input '" + in.name + "' takes " +
              std::to_string(static_cast<int64_t>(low)) + " to " +
              std::to_string(static_cast<int64_t>(high)));
      }
    }
    if (t->dtype != in.dtype)
      converted.push_back(in.name + " from " + runtime::dtypeName(t->dtype) + " to " +
                          runtime::dtypeName(in.dtype));
    sources.push_back({static_cast<const char *>(t->data), t->dtype});
  }
  if (rows == 0)
    throw std::runtime_error("'" + path + "' holds no batches");
}

SafetensorsBatches::~SafetensorsBatches() = default;

void SafetensorsBatches::fill(int64_t index, std::vector<Input> &inputs) {
  int64_t row = index % rows;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Input &in = inputs[i];
    auto [data, dtype] = sources[i];
    if (dtype == in.dtype) {
      std::memcpy(in.data.data(), data + row * in.data.size(), in.data.size());
      continue;
    }
    for (int64_t e = 0; e < in.numel; ++e)
      storeElement(in.dtype, in.data.data(), e,
                   runtime::loadElement(dtype, data, row * in.numel + e));
  }
}

static std::vector<unsigned char> readFile(const std::string &path) {
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    throw std::runtime_error("cannot open '" + path + "': " + std::strerror(errno));
  std::vector<unsigned char> bytes;
  unsigned char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), f)) > 0)
    bytes.insert(bytes.end(), buffer, buffer + n);
  std::fclose(f);
  return bytes;
}

std::vector<char32_t> decodeUtf8(const std::vector<unsigned char> &bytes,
                                 const std::string &path) {
  std::vector<char32_t> out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    unsigned char b = bytes[i];
    int extra = b < 0x80 ? 0 : (b >> 5) == 0x6 ? 1 : (b >> 4) == 0xe ? 2 : (b >> 3) == 0x1e ? 3 : -1;
    char32_t c = extra == 0 ? b : extra == 1 ? b & 0x1f : extra == 2 ? b & 0x0f : b & 0x07;
    bool ok = extra >= 0 && i + extra < bytes.size();
    for (int k = 1; ok && k <= extra; ++k) {
      ok = (bytes[i + k] & 0xc0) == 0x80;
      c = (c << 6) | (bytes[i + k] & 0x3f);
    }
    // Overlong forms and surrogates are not UTF-8 either.
    static const char32_t least[4] = {0, 0x80, 0x800, 0x10000};
    ok = ok && c >= least[extra] && c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff);
    if (!ok)
      throw std::runtime_error("'" + path + "' is not UTF-8 text (byte " + std::to_string(i) +
                               "): --vocab=chars reads characters; --vocab=bytes reads any file");
    out.push_back(c);
    i += static_cast<size_t>(extra) + 1;
  }
  return out;
}

std::string encodeUtf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xc0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xe0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (c & 0x3f));
  } else {
    s += static_cast<char>(0xf0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (c & 0x3f));
  }
  return s;
}

Vocabulary Vocabulary::fromText(const std::vector<unsigned char> &bytes,
                                const std::string &path) {
  std::vector<char32_t> text = decodeUtf8(bytes, path);
  Vocabulary v;
  v.chars = text;
  std::sort(v.chars.begin(), v.chars.end());
  v.chars.erase(std::unique(v.chars.begin(), v.chars.end()), v.chars.end());
  if (v.chars.size() > 65536)
    throw std::runtime_error("'" + path + "' has " + std::to_string(v.chars.size()) +
                             " distinct characters, more than token ids hold");
  return v;
}

Vocabulary Vocabulary::fromFile(const std::string &path) { return fromText(readFile(path), path); }

Vocabulary Vocabulary::load(const std::string &path) {
  std::vector<unsigned char> bytes = readFile(path);
  auto doc = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (!doc.is_object() || doc.value("kind", std::string()) != "chars" ||
      !doc.contains("chars") || !doc.at("chars").is_string())
    throw std::runtime_error("'" + path + "' is not a vocabulary ({\"kind\": \"chars\", "
                             "\"chars\": \"...\"})");
  std::string text = doc.at("chars").get<std::string>();
  Vocabulary v;
  v.chars = decodeUtf8(std::vector<unsigned char>(text.begin(), text.end()), path);
  if (!std::is_sorted(v.chars.begin(), v.chars.end()) ||
      std::adjacent_find(v.chars.begin(), v.chars.end()) != v.chars.end())
    throw std::runtime_error("'" + path + "': the characters of a vocabulary are sorted and "
                             "distinct");
  return v;
}

void Vocabulary::save(const std::string &path) const {
  std::string text;
  for (char32_t c : chars)
    text += encodeUtf8(c);
  std::string json =
      nlohmann::json{{"kind", "chars"}, {"size", chars.size()}, {"chars", text}}.dump() + "\n";
  std::string temporary = path + ".tmp";
  FILE *f = std::fopen(temporary.c_str(), "wb");
  bool ok = f && std::fwrite(json.data(), 1, json.size(), f) == json.size();
  ok = f && std::fclose(f) == 0 && ok;
  if (!ok || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    throw std::runtime_error("cannot write '" + path + "': " + std::strerror(errno));
  }
}

std::vector<uint16_t> Vocabulary::encode(const std::vector<unsigned char> &bytes,
                                         const std::string &path) const {
  std::vector<char32_t> text = decodeUtf8(bytes, path);
  std::vector<uint16_t> ids;
  ids.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    auto it = std::lower_bound(chars.begin(), chars.end(), text[i]);
    if (it == chars.end() || *it != text[i]) {
      char code[16];
      std::snprintf(code, sizeof(code), "U+%04X", static_cast<unsigned>(text[i]));
      throw std::runtime_error("'" + path + "' holds '" + encodeUtf8(text[i]) + "' (" + code +
                               ", character " + std::to_string(i) +
                               "), which the vocabulary does not have");
    }
    ids.push_back(static_cast<uint16_t>(it - chars.begin()));
  }
  return ids;
}

std::string Vocabulary::decode(uint16_t id) const {
  return id < chars.size() ? encodeUtf8(chars[id]) : std::string("?");
}

TokenStream::TokenStream(std::vector<Input> &inputs, const std::string &path,
                         uint64_t seed, double holdout, const Vocabulary *vocabulary,
                         const std::string &validation)
    : seed(seed), chars(vocabulary) {
  bool binary = path.size() > 4 && path.substr(path.size() - 4) == ".bin";
  auto tokensOf = [&](const std::string &file) {
    std::vector<unsigned char> bytes = readFile(file);
    return chars ? chars->encode(bytes, file) : parseTokens(bytes, binary, file);
  };
  data = tokensOf(path);
  int64_t trained = static_cast<int64_t>(data.size());
  if (!validation.empty()) {
    std::vector<uint16_t> tail = tokensOf(validation);
    data.insert(data.end(), tail.begin(), tail.end());
  }
  vocab = chars ? static_cast<int64_t>(chars->chars.size()) : binary ? 0 : 256;
  if (binary)
    for (uint16_t t : data)
      vocab = std::max<int64_t>(vocab, t + 1);
  for (int i = 0; i < static_cast<int>(inputs.size()); ++i) {
    if (isFloat(inputs[i].dtype) || inputs[i].shape.size() != 2)
      continue;
    if (inputs[i].name == "tokens" || (tokenInput < 0 && inputs[i].name != "targets"))
      tokenInput = i;
    else if (inputs[i].name == "targets" || targetInput < 0)
      targetInput = i;
  }
  if (tokenInput < 0 || targetInput < 0 || inputs[tokenInput].shape != inputs[targetInput].shape)
    throw std::runtime_error("text data needs a model with two integer inputs [B, T], "
                             "tokens and targets");
  batch = inputs[tokenInput].shape[0];
  context = inputs[tokenInput].shape[1];
  int64_t high = inputs[tokenInput].high;
  if (high > 0 && vocab > high)
    throw std::runtime_error(
        chars ? "the vocabulary has " + std::to_string(vocab) +
                    " characters, more than the model's " + std::to_string(high) +
                    " token ids: compile a model with a larger vocabulary"
              : "'" + path + "' holds token ids up to " + std::to_string(vocab - 1) +
                    ", beyond the model's vocabulary of " + std::to_string(high));
  int64_t size = static_cast<int64_t>(data.size());
  trainEnd = validation.empty()
                 ? size - static_cast<int64_t>(std::llround(holdout * static_cast<double>(size)))
                 : trained;
  if (trainEnd < context + 1)
    throw std::runtime_error(
        "'" + path + "' holds " + std::to_string(size) + " tokens" +
        (trainEnd < size ? ", " + std::to_string(trainEnd) + " without the held-out tail" : "") +
        ", fewer than one window of " + std::to_string(context + 1));
  if (holdout > 0 || !validation.empty()) {
    if (heldOutBatches() == 0)
      throw std::runtime_error(
          (validation.empty() ? "--val-split " + fmtFraction(holdout) + " keeps the last " +
                                    std::to_string(size - trainEnd) + " tokens of '" + path +
                                    "' for evaluation"
                              : "'" + validation + "' holds " +
                                    std::to_string(size - trainEnd) + " tokens") +
          "; one batch of " + std::to_string(batch) + " windows of " +
          std::to_string(context) + " tokens needs " + std::to_string(batch * context + 1));
  }
}

std::string TokenStream::decode(uint16_t id) const {
  return chars ? chars->decode(id) : std::string(1, static_cast<char>(id));
}

int64_t TokenStream::heldOutBatches() const {
  int64_t tail = heldOutTokens();
  return tail > 1 ? (tail - 1) / context / batch : 0;
}

void TokenStream::writeWindow(int64_t row, int64_t offset, std::vector<Input> &inputs) const {
  Input &tok = inputs[tokenInput];
  Input &tgt = inputs[targetInput];
  for (int64_t t = 0; t < context; ++t) {
    storeElement(tok.dtype, tok.data.data(), row * context + t, data[offset + t]);
    storeElement(tgt.dtype, tgt.data.data(), row * context + t, data[offset + t + 1]);
  }
}

void TokenStream::fillHeldOut(int64_t b, std::vector<Input> &inputs) const {
  for (int64_t r = 0; r < batch; ++r)
    writeWindow(r, trainEnd + (b * batch + r) * context, inputs);
}

int64_t TokenStream::batchesPerEpoch() const {
  return std::max<int64_t>(1, (trainEnd - 1) / (batch * context));
}

void TokenStream::fill(int64_t index, std::vector<Input> &inputs) {
  Generator gen(seed, "text batch " + std::to_string(index));
  uint64_t windows = static_cast<uint64_t>(trainEnd - context);
  for (int64_t b = 0; b < batch; ++b)
    writeWindow(b, static_cast<int64_t>(gen.next() % windows), inputs);
}

Synthetic::Synthetic(std::vector<Input> &inputs, uint64_t seed) : seed(seed) {
  for (const Input &in : inputs)
    if (!isFloat(in.dtype) && in.high <= 0)
      throw std::runtime_error("--synthetic cannot draw integer input '" + in.name +
                               "': the model does not say its range");
}

void Synthetic::fill(int64_t index, std::vector<Input> &inputs) {
  for (Input &in : inputs) {
    Generator gen(seed, "synthetic " + in.name + " " + std::to_string(index));
    for (int64_t i = 0; i < in.numel; ++i)
      storeElement(in.dtype, in.data.data(), i,
                   isFloat(in.dtype) ? gen.uniform()
                                     : static_cast<double>(gen.next() % static_cast<uint64_t>(in.high)));
  }
}

} // namespace ftc::train_tool
