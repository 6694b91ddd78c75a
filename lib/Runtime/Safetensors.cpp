//===- Safetensors.cpp - reading and writing .safetensors files -----------===//

#include "Safetensors.h"

#include "Dtype.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <utility>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ftc::runtime {

namespace {
const char *dtypeTag(ftc_dtype dtype) {
  switch (dtype) {
  case FTC_F32: return "F32";
  case FTC_F64: return "F64";
  case FTC_F16: return "F16";
  case FTC_BF16: return "BF16";
  case FTC_I32: return "I32";
  case FTC_I64: return "I64";
  case FTC_I8: return "I8";
  case FTC_U8: return "U8";
  }
  return "?";
}

bool parseTag(const std::string &tag, ftc_dtype &dtype) {
  for (ftc_dtype d : {FTC_F32, FTC_F64, FTC_F16, FTC_BF16, FTC_I32, FTC_I64, FTC_I8, FTC_U8})
    if (tag == dtypeTag(d)) {
      dtype = d;
      return true;
    }
  return false;
}

size_t elementSize(ftc_dtype dtype) { return static_cast<size_t>(dtypeBytes(dtype)); }

std::string systemError(const std::string &what, const std::string &path) {
  return what + " '" + path + "': " + std::strerror(errno);
}

bool writeAll(int fd, const void *data, size_t bytes) {
  const char *p = static_cast<const char *>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd, p, bytes);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}
} // namespace

std::string dtypeName(ftc_dtype dtype) {
  std::string out = dtypeTag(dtype);
  for (char &c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string describeTensor(ftc_dtype dtype, const std::vector<int64_t> &shape) {
  std::string out = dtypeName(dtype) + " [";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

namespace {
/// The header of a safetensors file, padded so that the data that follows
/// is 8-byte aligned, behind its 8-byte little-endian length.
std::string encodeHeader(const std::vector<TensorView> &tensors) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}, {"producer", "ftc"}};
  size_t offset = 0;
  for (const TensorView &t : tensors) {
    header[t.name] = {{"dtype", dtypeTag(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' '); // keep the data 8-byte aligned
  uint64_t length = text.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>(length >> (8 * i));
  return out + text;
}

/// Writes the chunks to a new temporary file beside `path`, synced to disk;
/// returns its name, or an empty string with `error` set.
std::string writeTemporary(const std::string &path,
                           const std::vector<std::pair<const void *, size_t>> &chunks,
                           std::string &error) {
  std::string tmp = path + ".tmp-XXXXXX";
  std::vector<char> name(tmp.begin(), tmp.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0) {
    error = systemError("cannot create a temporary file for", path);
    return {};
  }
  bool ok = true;
  // A test hook: the process killed (SIGKILL, which nothing can catch)
  // halfway through writing, to show that the destination is intact.
  static const bool killHalfway = std::getenv("FTC_TEST_KILL_DURING_SAVE") != nullptr;
  for (size_t i = 0; i < chunks.size(); ++i) {
    ok = ok && writeAll(fd, chunks[i].first, chunks[i].second);
    if (killHalfway && i + 1 == (chunks.size() + 1) / 2) {
      ::fsync(fd);
      std::raise(SIGKILL);
    }
  }
  ok = ok && ::fchmod(fd, 0644) == 0 && ::fsync(fd) == 0;
  if (::close(fd) != 0)
    ok = false;
  if (!ok) {
    error = systemError("cannot write", path);
    ::unlink(name.data());
    return {};
  }
  return name.data();
}

std::vector<std::pair<const void *, size_t>>
safetensorsChunks(const std::string &header, const std::vector<TensorView> &tensors) {
  std::vector<std::pair<const void *, size_t>> chunks{{header.data(), header.size()}};
  for (const TensorView &t : tensors)
    chunks.push_back({t.data, t.bytes});
  return chunks;
}
} // namespace

bool writeSafetensors(const std::string &path, const std::vector<TensorView> &tensors,
                      std::string &error) {
  StagedFiles files;
  return files.addSafetensors(path, tensors, error) && files.commit(error);
}

StagedFiles::~StagedFiles() {
  for (const Staged &f : files)
    ::unlink(f.temporary.c_str());
}

bool StagedFiles::addSafetensors(const std::string &path,
                                 const std::vector<TensorView> &tensors,
                                 std::string &error) {
  std::string header = encodeHeader(tensors);
  std::string tmp = writeTemporary(path, safetensorsChunks(header, tensors), error);
  if (tmp.empty())
    return false;
  files.push_back({tmp, path});
  return true;
}

bool StagedFiles::addText(const std::string &path, const std::string &text,
                          std::string &error) {
  std::string tmp = writeTemporary(path, {{text.data(), text.size()}}, error);
  if (tmp.empty())
    return false;
  files.push_back({tmp, path});
  return true;
}

namespace {
/// The directory of `path` ("." for a bare name).
std::string directoryOf(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

/// Syncs directory `dir`, so that a rename in it survives a crash of the
/// machine (the file's own data was synced before the rename).
bool syncDirectory(const std::string &dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}
} // namespace

bool StagedFiles::commit(std::string &error) {
  for (size_t i = 0; i < files.size(); ++i) {
    if (::rename(files[i].temporary.c_str(), files[i].path.c_str()) != 0) {
      error = systemError("cannot write", files[i].path);
      files.erase(files.begin(), files.begin() + static_cast<std::ptrdiff_t>(i));
      return false;
    }
  }
  std::vector<std::string> dirs;
  for (const Staged &f : files)
    if (std::find(dirs.begin(), dirs.end(), directoryOf(f.path)) == dirs.end())
      dirs.push_back(directoryOf(f.path));
  files.clear();
  for (const std::string &dir : dirs)
    if (!syncDirectory(dir)) {
      error = systemError("cannot sync the directory", dir);
      return false;
    }
  return true;
}

bool makeDirectories(const std::string &path, std::string &error) {
  if (path.empty()) {
    error = "the directory name is empty";
    return false;
  }
  // Each prefix that ends at a '/', then the whole path.
  for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    std::string prefix = path.substr(0, end);
    struct stat st;
    if (::stat(prefix.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) {
        error = "cannot create the directory '" + path + "': '" + prefix +
                "' is not a directory";
        return false;
      }
    } else if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      error = systemError("cannot create the directory", prefix);
      return false;
    }
    if (end == std::string::npos)
      return true;
  }
}

bool probeWritable(const std::string &dir, std::string &error) {
  std::string probe = (dir.empty() ? std::string(".") : dir) + "/.ftc-probe-XXXXXX";
  std::vector<char> name(probe.begin(), probe.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0) {
    error = systemError("cannot create files in", dir);
    return false;
  }
  ::close(fd);
  ::unlink(name.data());
  return true;
}

const LoadedTensor *SafetensorsFile::find(const std::string &name) const {
  for (const LoadedTensor &t : tensors)
    if (t.name == name)
      return &t;
  return nullptr;
}

std::unique_ptr<SafetensorsFile> readSafetensors(const std::string &path,
                                                 std::string &error,
                                                 ftc_status &status) {
  auto file = std::make_unique<SafetensorsFile>();
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = systemError("cannot open", path);
    status = FTC_ERROR_IO;
    return nullptr;
  }
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), f)) > 0)
    file->content.insert(file->content.end(), buffer, buffer + n);
  bool readError = std::ferror(f);
  std::fclose(f);
  if (readError) {
    error = systemError("cannot read", path);
    status = FTC_ERROR_IO;
    return nullptr;
  }
  return parseSafetensors(std::move(file->content), path, error, status);
}

std::unique_ptr<SafetensorsFile> parseSafetensors(std::vector<char> content,
                                                  const std::string &path, std::string &error,
                                                  ftc_status &status) {
  auto file = std::make_unique<SafetensorsFile>();
  file->content = std::move(content);

  status = FTC_ERROR_FORMAT;
  const std::vector<char> &c = file->content;
  if (c.size() < 8) {
    error = "'" + path + "' is not a safetensors file: it is " +
            std::to_string(c.size()) + " bytes long";
    return nullptr;
  }
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i)
    length |= static_cast<uint64_t>(static_cast<unsigned char>(c[i])) << (8 * i);
  if (length > c.size() - 8) {
    error = "'" + path + "' is truncated or not a safetensors file: its header "
            "claims " + std::to_string(length) + " bytes, the file has " +
            std::to_string(c.size() - 8) + " after the length";
    return nullptr;
  }
  size_t dataStart = 8 + length, dataSize = c.size() - dataStart;
  nlohmann::json header = nlohmann::json::parse(c.begin() + 8, c.begin() + dataStart,
                                                nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    error = "'" + path + "' is not a safetensors file: its header is not a JSON object";
    return nullptr;
  }
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__")
      continue;
    const nlohmann::json &entry = it.value();
    LoadedTensor t;
    t.name = it.key();
    auto bad = [&](const std::string &why) {
      error = "tensor '" + t.name + "' in '" + path + "': " + why;
      return nullptr;
    };
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets"))
      return bad("needs dtype, shape and data_offsets");
    if (!entry["dtype"].is_string() || !parseTag(entry["dtype"].get<std::string>(), t.dtype))
      return bad("unsupported dtype " + entry["dtype"].dump() +
                 " (ftc reads F32, F64, F16, BF16, I32, I64, I8 and U8)");
    if (!entry["shape"].is_array())
      return bad("bad shape " + entry["shape"].dump());
    uint64_t numel = 1;
    bool huge = false, empty = false;
    for (const auto &d : entry["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        return bad("bad shape " + entry["shape"].dump());
      t.shape.push_back(d.get<int64_t>());
      uint64_t extent = static_cast<uint64_t>(d.get<int64_t>());
      empty = empty || extent == 0;
      // More elements than the file has bytes (checked without overflow).
      if (extent && numel > dataSize / extent)
        huge = true;
      numel = huge ? 0 : numel * extent;
    }
    if (huge && !empty)
      return bad("shape " + entry["shape"].dump() + " holds more elements than the file has bytes");
    const auto &offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      return bad("bad data_offsets " + offsets.dump());
    uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (begin > end || end > dataSize)
      return bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                 "] run past the end of the file (" + std::to_string(dataSize) +
                 " data bytes): is it truncated?");
    if (end - begin != numel * elementSize(t.dtype))
      return bad("holds " + std::to_string(end - begin) + " bytes, but " +
                 describeTensor(t.dtype, t.shape) + " needs " +
                 std::to_string(numel * elementSize(t.dtype)));
    t.data = c.data() + dataStart + begin;
    t.bytes = end - begin;
    file->tensors.push_back(std::move(t));
  }
  status = FTC_OK;
  return file;
}

} // namespace ftc::runtime
