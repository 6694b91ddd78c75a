//===- Data.cpp - batches for ftc-train -----------------------------------===//

#include "Data.h"

#include "Random.h"
#include "Safetensors.h"

#include <zlib.h>

#include <cstring>
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
  gzclose(f);
  if (n < 0 || err < 0)
    throw std::runtime_error("cannot read '" + path + "': " + message);
  auto be32 = [&](size_t at) {
    return (uint32_t(bytes[at]) << 24) | (uint32_t(bytes[at + 1]) << 16) |
           (uint32_t(bytes[at + 2]) << 8) | uint32_t(bytes[at + 3]);
  };
  size_t rank = magic & 0xff;
  if (bytes.size() < 4 + 4 * rank || be32(0) != magic)
    throw std::runtime_error("'" + path + "' is not an idx file of the expected kind");
  size_t count = 1;
  for (size_t i = 0; i < rank; ++i) {
    dims.push_back(be32(4 + 4 * i));
    count *= dims.back();
  }
  size_t header = 4 + 4 * rank;
  if (bytes.size() - header != count)
    throw std::runtime_error("'" + path + "' is truncated: " +
                             std::to_string(bytes.size() - header) + " of " +
                             std::to_string(count) + " bytes");
  return std::vector<unsigned char>(bytes.begin() + header, bytes.end());
}

void loadSplit(const std::string &root, const std::string &prefix,
               std::vector<float> &images, std::vector<int32_t> &labels) {
  std::vector<uint32_t> imageDims, labelDims;
  auto pixels = readIdx(root + "/" + prefix + "-images-idx3-ubyte.gz", 0x803, imageDims);
  auto classes = readIdx(root + "/" + prefix + "-labels-idx1-ubyte.gz", 0x801, labelDims);
  if (imageDims[0] != labelDims[0] || imageDims[1] * imageDims[2] != 784)
    throw std::runtime_error("Fashion-MNIST " + prefix + " images and labels do not match");
  images.resize(pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i)
    images[i] = pixels[i] / 255.0f; // as torchvision's ToTensor
  labels.assign(classes.begin(), classes.end());
}

bool isFloat(ftc_dtype d) { return d == FTC_F32 || d == FTC_F64 || d == FTC_F16 || d == FTC_BF16; }
} // namespace

FashionMnist::FashionMnist(std::vector<Input> &inputs, uint64_t seed,
                           const std::string &root)
    : seed(seed) {
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
  loadSplit(root, "train", trainImages, trainLabels);
  loadSplit(root, "t10k", testImages, testLabels);
}

int64_t FashionMnist::batchesPerEpoch() const {
  return static_cast<int64_t>(trainLabels.size()) / batch; // the last partial batch is dropped
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
    // A fresh shuffle per epoch (Fisher-Yates), from the seed and the epoch.
    Generator gen(seed, "fashion-mnist epoch " + std::to_string(epoch));
    permutation.resize(trainLabels.size());
    for (size_t i = 0; i < permutation.size(); ++i)
      permutation[i] = static_cast<int64_t>(i);
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
    rows[r] = b * batch + (r < real ? r : 0);
  writeRows(testImages, testLabels, rows.data(), inputs);
  return real;
}

struct SafetensorsBatches::File {
  std::unique_ptr<runtime::SafetensorsFile> contents;
};

SafetensorsBatches::SafetensorsBatches(std::vector<Input> &inputs, const std::string &path)
    : file(std::make_unique<File>()) {
  std::string error;
  ftc_status status;
  file->contents = runtime::readSafetensors(path, error, status);
  if (!file->contents)
    throw std::runtime_error(error);
  for (const Input &in : inputs) {
    const runtime::LoadedTensor *t = file->contents->find(in.name);
    if (!t)
      throw std::runtime_error("'" + path + "' has no tensor '" + in.name +
                               "' for the model input of that name");
    std::vector<int64_t> expected(in.shape);
    if (t->shape.size() != expected.size() + 1 ||
        !std::equal(expected.begin(), expected.end(), t->shape.begin() + 1) ||
        t->dtype != in.dtype)
      throw std::runtime_error("tensor '" + in.name + "' in '" + path + "' is " +
                               runtime::describeTensor(t->dtype, t->shape) +
                               "; expected [N, " +
                               runtime::describeTensor(in.dtype, in.shape).substr(
                                   runtime::describeTensor(in.dtype, in.shape).find('[') + 1));
    if (rows && t->shape[0] != rows)
      throw std::runtime_error("the tensors in '" + path +
                               "' hold different numbers of batches");
    rows = t->shape[0];
    sources.push_back(static_cast<const char *>(t->data));
  }
  if (rows == 0)
    throw std::runtime_error("'" + path + "' holds no batches");
}

SafetensorsBatches::~SafetensorsBatches() = default;

void SafetensorsBatches::fill(int64_t index, std::vector<Input> &inputs) {
  int64_t row = index % rows;
  for (size_t i = 0; i < inputs.size(); ++i)
    std::memcpy(inputs[i].data.data(), sources[i] + row * inputs[i].data.size(),
                inputs[i].data.size());
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
