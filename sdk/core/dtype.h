// Element types as named by safetensors, and conversion of 16-bit floats to F32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace krait {

enum class DType : int32_t { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

// "F32" -> DType::F32; nullopt for names safetensors does not define.
std::optional<DType> dtype_from_name(std::string_view name);
const char* dtype_name(DType dtype);
size_t dtype_size(DType dtype);

// IEEE half and bfloat16 to float, exactly (every 16-bit value is representable).
float f16_to_f32(uint16_t bits);
inline float bf16_to_f32(uint16_t bits) {
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}

// Converts `count` elements of `src` (F32, F16 or BF16, little-endian, any alignment) to float.
void convert_to_f32(DType dtype, const void* src, size_t count, float* dst);

}  // namespace krait
