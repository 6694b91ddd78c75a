//===- Dtype.h - element sizes of ftc_dtype ---------------------*- C++ -*-===//

#ifndef FTC_RUNTIME_DTYPE_H
#define FTC_RUNTIME_DTYPE_H

#include "ftc.h"

namespace ftc::runtime {

/// Bytes of one element of `dtype`.
inline int32_t dtypeBytes(ftc_dtype dtype) {
  switch (dtype) {
  case FTC_F32:
  case FTC_I32:
    return 4;
  case FTC_F64:
  case FTC_I64:
    return 8;
  case FTC_F16:
  case FTC_BF16:
    return 2;
  case FTC_I8:
  case FTC_U8:
    return 1;
  }
  return 0;
}

} // namespace ftc::runtime

#endif // FTC_RUNTIME_DTYPE_H
