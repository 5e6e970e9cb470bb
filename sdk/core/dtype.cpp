#include "sdk/core/dtype.h"

#include <cstring>

#include "sdk/core/error.h"

namespace krait {

namespace {
struct DTypeEntry {
    DType dtype;
    const char* name;
    size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},     {DType::I8, "I8", 1},     {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::F8_E4M3, "F8_E4M3", 1}, {DType::I16, "I16", 2}, {DType::U16, "U16", 2}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4},   {DType::U32, "U32", 4},   {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},   {DType::I64, "I64", 8},   {DType::U64, "U64", 8},
};
}  // namespace

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto& e : kDTypes)
        if (name == e.name) return e.dtype;
    return std::nullopt;
}

const char* dtype_name(DType dtype) { return kDTypes[static_cast<int>(dtype)].name; }
size_t dtype_size(DType dtype) { return kDTypes[static_cast<int>(dtype)].size; }

float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {  // inf / nan
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {  // normal
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {  // zero
        bits = sign;
    } else {  // subnormal: normalise
        exp = 113;
        while ((mant & 0x400u) == 0) {
            mant <<= 1;
            --exp;
        }
        bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

void convert_to_f32(DType dtype, const void* src, size_t count, float* dst) {
    const auto* bytes = static_cast<const uint8_t*>(src);
    switch (dtype) {
        case DType::F32:
            std::memcpy(dst, src, count * sizeof(float));
            return;
        case DType::F16:
            for (size_t i = 0; i < count; ++i) {
                uint16_t h;
                std::memcpy(&h, bytes + 2 * i, 2);
                dst[i] = f16_to_f32(h);
            }
            return;
        case DType::BF16:
            for (size_t i = 0; i < count; ++i) {
                uint16_t h;
                std::memcpy(&h, bytes + 2 * i, 2);
                dst[i] = bf16_to_f32(h);
            }
            return;
        default:
            fail_unsupported(std::string("cannot convert ") + dtype_name(dtype) + " to F32");
    }
}

}  // namespace krait
