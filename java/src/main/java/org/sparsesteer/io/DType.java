package org.sparsesteer.io;

import org.bytedeco.pytorch.global.torch.ScalarType;

/** The element types a safetensors file may declare, with their sizes and libtorch equivalents. */
public enum DType {
    F64(8, ScalarType.Double),
    F32(4, ScalarType.Float),
    F16(2, ScalarType.Half),
    BF16(2, ScalarType.BFloat16),
    I64(8, ScalarType.Long),
    I32(4, ScalarType.Int),
    I16(2, ScalarType.Short),
    I8(1, ScalarType.Char),
    U8(1, ScalarType.Byte),
    BOOL(1, ScalarType.Bool);

    public final int bytes;
    public final ScalarType scalarType;

    DType(int bytes, ScalarType scalarType) {
        this.bytes = bytes;
        this.scalarType = scalarType;
    }

    /** True for the floating types model weights may be stored in (F32, BF16, F16). */
    public boolean isWeightType() {
        return this == F32 || this == BF16 || this == F16;
    }

    public static DType of(ScalarType type) {
        for (DType d : values()) if (d.scalarType.value == type.value) return d;
        throw new IllegalArgumentException("no safetensors dtype for libtorch type " + type);
    }

    /** Parses a safetensors dtype name; null when the name is not one we read. */
    public static DType parse(String name) {
        for (DType d : values()) if (d.name().equals(name)) return d;
        return null;
    }
}
