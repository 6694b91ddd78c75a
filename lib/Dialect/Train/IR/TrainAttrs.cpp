//===- TrainAttrs.cpp - initializers and optimizer settings ---------------===//

#include "ftc/Dialect/Train/IR/TrainAttrs.h"
#include "ftc/Dialect/Train/IR/TrainDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Regex.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <variant>

using namespace mlir;
using llvm::APFloat;
using namespace ftc::train;

#include "ftc/Dialect/Train/IR/TrainAttrInterfaces.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "ftc/Dialect/Train/IR/TrainAttrs.cpp.inc"

void TrainDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "ftc/Dialect/Train/IR/TrainAttrs.cpp.inc"
      >();
}

/// The shortest decimal that reads back as exactly `value` ("0.999", not
/// "0.99899999999999999"), spelled as an MLIR float literal ("1.0e-08").
static std::string formatFloat(double value) {
  if (std::isnan(value))
    return "nan";
  if (std::isinf(value))
    return value > 0 ? "inf" : "-inf";
  char buffer[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value)
      break;
  }
  std::string text(buffer);
  if (text.find('.') == std::string::npos) {
    size_t exponent = text.find('e');
    text.insert(exponent == std::string::npos ? text.size() : exponent, ".0");
  }
  return text;
}

//===----------------------------------------------------------------------===//
// `<name = value, ...>` with optional fields in any order
//===----------------------------------------------------------------------===//

namespace {
/// One named field of an attribute's `<...>` body. `dest` holds the default
/// on entry and the parsed value on exit.
struct Field {
  StringRef name;
  std::variant<double *, bool *, int64_t *, std::string *> dest;
};
} // namespace

/// Parses `<k = v, ...>` (or nothing at all: every field keeps its default).
static ParseResult parseFields(AsmParser &parser, StringRef attrName,
                               MutableArrayRef<Field> fields) {
  if (failed(parser.parseOptionalLess()))
    return success();
  if (succeeded(parser.parseOptionalGreater()))
    return success();
  llvm::SmallVector<bool> seen(fields.size(), false);
  do {
    SMLoc loc = parser.getCurrentLocation();
    StringRef key;
    if (parser.parseKeyword(&key))
      return failure();
    auto *it = llvm::find_if(fields, [&](const Field &f) { return f.name == key; });
    if (it == fields.end()) {
      std::string names = llvm::join(
          llvm::map_range(fields, [](const Field &f) { return f.name; }), ", ");
      return parser.emitError(loc) << "unknown field '" << key << "' in #train."
                                   << attrName << "; expected one of " << names;
    }
    size_t index = it - fields.begin();
    if (seen[index])
      return parser.emitError(loc)
             << "field '" << key << "' appears twice in #train." << attrName;
    seen[index] = true;
    if (parser.parseEqual())
      return failure();
    if (auto *d = std::get_if<double *>(&it->dest)) {
      if (parser.parseFloat(**d))
        return failure();
    } else if (auto *i = std::get_if<int64_t *>(&it->dest)) {
      if (parser.parseInteger(**i))
        return failure();
    } else if (auto *text = std::get_if<std::string *>(&it->dest)) {
      if (parser.parseString(*text))
        return failure();
    } else {
      StringRef word;
      SMLoc wordLoc = parser.getCurrentLocation();
      if (parser.parseKeyword(&word))
        return failure();
      if (word != "true" && word != "false")
        return parser.emitError(wordLoc)
               << "expected 'true' or 'false' for '" << key << "'";
      *std::get<bool *>(it->dest) = word == "true";
    }
  } while (succeeded(parser.parseOptionalComma()));
  return parser.parseGreater();
}

using FieldValue = std::variant<double, bool, int64_t, StringRef>;

static void printFields(AsmPrinter &printer,
                        ArrayRef<std::pair<StringRef, FieldValue>> fields) {
  printer << "<";
  llvm::interleaveComma(fields, printer, [&](const auto &field) {
    printer << field.first << " = ";
    if (auto *d = std::get_if<double>(&field.second))
      printer << formatFloat(*d);
    else if (auto *i = std::get_if<int64_t>(&field.second))
      printer << *i;
    else if (auto *text = std::get_if<StringRef>(&field.second))
      printer.printString(*text);
    else
      printer << (std::get<bool>(field.second) ? "true" : "false");
  });
  printer << ">";
}

static LogicalResult checkFinite(function_ref<InFlightDiagnostic()> emitError,
                                 StringRef attr, StringRef name, double value) {
  if (std::isfinite(value))
    return success();
  return emitError() << "#train." << attr << ": " << name
                     << " must be finite, got " << formatFloat(value);
}

static LogicalResult
checkNonNegative(function_ref<InFlightDiagnostic()> emitError, StringRef attr,
                 StringRef name, double value) {
  if (std::isfinite(value) && value >= 0)
    return success();
  return emitError() << "#train." << attr << ": " << name
                     << " must be a non-negative number, got "
                     << formatFloat(value);
}

static LogicalResult checkUnitInterval(function_ref<InFlightDiagnostic()> emitError,
                                       StringRef attr, StringRef name,
                                       double value) {
  if (value >= 0 && value < 1)
    return success();
  return emitError() << "#train." << attr << ": " << name
                     << " must be in [0, 1), got " << formatFloat(value);
}

//===----------------------------------------------------------------------===//
// Initializers
//===----------------------------------------------------------------------===//

Attribute ConstantInitAttr::parse(AsmParser &parser, Type) {
  double value;
  if (parser.parseLess() || parser.parseFloat(value) || parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                    parser.getContext(), APFloat(value));
}

void ConstantInitAttr::print(AsmPrinter &printer) const {
  printer << "<";
  printer << formatFloat(getValue().convertToDouble());
  printer << ">";
}

LogicalResult
ConstantInitAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         APFloat value) {
  return checkFinite(emitError, "constant", "the value", value.convertToDouble());
}

Attribute NormalAttr::parse(AsmParser &parser, Type) {
  double mean = 0.0, std = 1.0;
  Field fields[] = {{"mean", &mean}, {"std", &std}};
  if (parseFields(parser, "normal", fields))
    return {};
  return getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                    parser.getContext(), APFloat(mean), APFloat(std));
}

void NormalAttr::print(AsmPrinter &printer) const {
  printFields(printer, {{"mean", getMean().convertToDouble()}, {"std", getStd().convertToDouble()}});
}

LogicalResult NormalAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 APFloat mean, APFloat std) {
  return failure(
      failed(checkFinite(emitError, "normal", "mean", mean.convertToDouble())) ||
      failed(checkNonNegative(emitError, "normal", "std", std.convertToDouble())));
}

Attribute UniformAttr::parse(AsmParser &parser, Type) {
  double low = 0.0, high = 1.0;
  Field fields[] = {{"low", &low}, {"high", &high}};
  if (parseFields(parser, "uniform", fields))
    return {};
  return getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                    parser.getContext(), APFloat(low), APFloat(high));
}

void UniformAttr::print(AsmPrinter &printer) const {
  printFields(printer, {{"low", getLow().convertToDouble()}, {"high", getHigh().convertToDouble()}});
}

LogicalResult UniformAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  APFloat lowValue, APFloat highValue) {
  double low = lowValue.convertToDouble(), high = highValue.convertToDouble();
  if (failed(checkFinite(emitError, "uniform", "low", low)) ||
      failed(checkFinite(emitError, "uniform", "high", high)))
    return failure();
  if (low > high)
    return emitError() << "#train.uniform: low (" << formatFloat(low)
                       << ") must not exceed high (" << formatFloat(high) << ")";
  return success();
}

int64_t KaimingUniformAttr::getFanIn(ArrayRef<int64_t> shape) {
  int64_t fanIn = 1;
  for (int64_t d : shape.drop_front())
    fanIn *= d;
  return fanIn;
}

LogicalResult KaimingUniformAttr::verifyFor(
    RankedTensorType type, function_ref<InFlightDiagnostic()> emitError) const {
  if (type.getRank() < 2)
    return emitError() << "#train.kaiming_uniform needs a parameter of rank 2 "
                          "or more to compute fan_in, got "
                       << type;
  if (getFanIn(type.getShape()) == 0)
    return emitError() << "#train.kaiming_uniform needs a non-zero fan_in, got "
                       << type;
  return success();
}

LogicalResult
LinearBiasAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       int64_t fanIn) {
  if (fanIn <= 0)
    return emitError() << "#train.linear_bias: fan_in must be positive, got "
                       << fanIn;
  return success();
}

//===----------------------------------------------------------------------===//
// Optimizers
//===----------------------------------------------------------------------===//

Attribute AdamWAttr::parse(AsmParser &parser, Type) {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01;
  Field fields[] = {{"lr", &lr},
                    {"beta1", &beta1},
                    {"beta2", &beta2},
                    {"eps", &eps},
                    {"weight_decay", &weightDecay}};
  if (parseFields(parser, "adamw", fields))
    return {};
  return getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                    parser.getContext(), APFloat(lr), APFloat(beta1), APFloat(beta2),
                    APFloat(eps), APFloat(weightDecay));
}

void AdamWAttr::print(AsmPrinter &printer) const {
  printFields(printer, {{"lr", getLr().convertToDouble()},
                        {"beta1", getBeta1().convertToDouble()},
                        {"beta2", getBeta2().convertToDouble()},
                        {"eps", getEps().convertToDouble()},
                        {"weight_decay", getWeightDecay().convertToDouble()}});
}

LogicalResult AdamWAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                APFloat lr, APFloat beta1, APFloat beta2,
                                APFloat eps, APFloat weightDecay) {
  return failure(
      failed(checkNonNegative(emitError, "adamw", "lr", lr.convertToDouble())) ||
      failed(checkUnitInterval(emitError, "adamw", "beta1",
                               beta1.convertToDouble())) ||
      failed(checkUnitInterval(emitError, "adamw", "beta2",
                               beta2.convertToDouble())) ||
      failed(checkNonNegative(emitError, "adamw", "eps", eps.convertToDouble())) ||
      failed(checkNonNegative(emitError, "adamw", "weight_decay",
                              weightDecay.convertToDouble())));
}

Attribute SGDAttr::parse(AsmParser &parser, Type) {
  double lr = 1e-2, momentum = 0.0, dampening = 0.0, weightDecay = 0.0;
  bool nesterov = false;
  Field fields[] = {{"lr", &lr},
                    {"momentum", &momentum},
                    {"dampening", &dampening},
                    {"weight_decay", &weightDecay},
                    {"nesterov", &nesterov}};
  if (parseFields(parser, "sgd", fields))
    return {};
  return getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                    parser.getContext(), APFloat(lr), APFloat(momentum),
                    APFloat(dampening), APFloat(weightDecay), nesterov);
}

void SGDAttr::print(AsmPrinter &printer) const {
  printFields(printer, {{"lr", getLr().convertToDouble()},
                        {"momentum", getMomentum().convertToDouble()},
                        {"dampening", getDampening().convertToDouble()},
                        {"weight_decay", getWeightDecay().convertToDouble()},
                        {"nesterov", getNesterov()}});
}

LogicalResult SGDAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              APFloat lrValue, APFloat momentumValue,
                              APFloat dampeningValue, APFloat weightDecayValue,
                              bool nesterov) {
  double lr = lrValue.convertToDouble(), momentum = momentumValue.convertToDouble(),
         dampening = dampeningValue.convertToDouble(),
         weightDecay = weightDecayValue.convertToDouble();
  if (failed(checkNonNegative(emitError, "sgd", "lr", lr)) ||
      failed(checkNonNegative(emitError, "sgd", "momentum", momentum)) ||
      failed(checkFinite(emitError, "sgd", "dampening", dampening)) ||
      failed(checkNonNegative(emitError, "sgd", "weight_decay", weightDecay)))
    return failure();
  if (nesterov && (momentum <= 0 || dampening != 0))
    return emitError() << "#train.sgd: nesterov needs momentum > 0 and "
                          "dampening = 0, got momentum "
                       << formatFloat(momentum) << " and dampening "
                       << formatFloat(dampening);
  return success();
}

//===----------------------------------------------------------------------===//
// LoraAttr
//===----------------------------------------------------------------------===//

Attribute LoraAttr::parse(AsmParser &parser, Type) {
  int64_t rank = 8;
  double alpha = std::nan(""), dropout = 0.0;
  bool rslora = false;
  std::string targets, variant = "lora", base = "fp32", trainable;
  Field fields[] = {{"rank", &rank},         {"alpha", &alpha},
                    {"targets", &targets},   {"dropout", &dropout},
                    {"rslora", &rslora},     {"variant", &variant},
                    {"base", &base},         {"trainable", &trainable}};
  if (parseFields(parser, "lora", fields))
    return {};
  // Without alpha the scale is 1 (PEFT's defaults: r = lora_alpha = 8).
  if (std::isnan(alpha))
    alpha = static_cast<double>(rank);
  return getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                    parser.getContext(), rank, APFloat(alpha), targets,
                    APFloat(dropout), rslora, variant, base, trainable);
}

void LoraAttr::print(AsmPrinter &printer) const {
  printFields(printer, {{"rank", getRank()},
                        {"alpha", getAlpha().convertToDouble()},
                        {"targets", getTargets()},
                        {"dropout", getDropout().convertToDouble()},
                        {"rslora", getRslora()},
                        {"variant", getVariant()},
                        {"base", getBase()},
                        {"trainable", getTrainable()}});
}

double LoraAttr::getScale() const {
  double alpha = getAlpha().convertToDouble(), rank = static_cast<double>(getRank());
  return getRslora() ? alpha / std::sqrt(rank) : alpha / rank;
}

LogicalResult LoraAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               int64_t rank, APFloat alpha, StringRef targets,
                               APFloat dropout, bool rslora, StringRef variant,
                               StringRef base, StringRef trainable) {
  if (rank < 1)
    return emitError() << "#train.lora: rank must be at least 1, got " << rank;
  if (failed(checkNonNegative(emitError, "lora", "alpha", alpha.convertToDouble())))
    return failure();
  double p = dropout.convertToDouble();
  if (!(p >= 0 && p < 1))
    return emitError() << "#train.lora: dropout must be in [0, 1), got "
                       << formatFloat(p);
  if (variant != "lora" && variant != "dora")
    return emitError() << "#train.lora: variant must be lora or dora, got '"
                       << variant << "'";
  if (base != "fp32" && base != "bf16" && base != "nf4" && base != "nf4-dq")
    return emitError() << "#train.lora: base must be fp32, bf16, nf4 or nf4-dq, got '"
                       << base << "'";
  std::string error;
  if (targets.empty())
    return emitError() << "#train.lora: targets must name the linear weights "
                          "to adapt (a regular expression)";
  for (auto [field, pattern] : {std::pair{"targets", targets}, {"trainable", trainable}})
    if (!pattern.empty() && !llvm::Regex(pattern).isValid(error))
      return emitError() << "#train.lora: " << field
                         << " is not a valid regular expression ('" << pattern
                         << "': " << error << ")";
  return success();
}
