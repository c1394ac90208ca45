package org.sparsesteer.kernels;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import org.bytedeco.javacpp.Pointer;

/**
 * libtorch's current CUDA stream ({@code at::cuda::getCurrentCUDAStream(device)}) as a raw {@code cudaStream_t},
 * looked up reflectively so that this module compiles and runs against the CPU build of the pytorch preset.
 *
 * <p>The path is {@code org.bytedeco.pytorch.global.torch_cuda.getCurrentCUDAStream(byte)} (a
 * {@code org.bytedeco.pytorch.cuda.CUDAStream}), then {@code CUDAStream.stream()}, whose return type
 * {@code org.bytedeco.cuda.cudart.CUstream_st} lives in the {@code org.bytedeco:cuda} preset (an optional
 * dependency of pytorch, present in GPU builds). This class is only touched for CUDA tensors: the classes and
 * the {@code jnitorch_cuda} library it needs are never loaded on the CPU path.
 */
final class CudaStreams {
    private CudaStreams() {}

    private static volatile Method getCurrentStream;
    private static volatile Method streamOf;

    /**
     * The current stream of CUDA device {@code deviceIndex}; the returned Pointer's address is the
     * {@code cudaStream_t} (0 for the legacy default stream). The CUDAStream object goes to the caller's
     * PointerScope, if any.
     */
    static Pointer current(int deviceIndex) {
        try {
            Method get = getCurrentStream;
            if (get == null) {
                Class<?> torchCuda = Class.forName("org.bytedeco.pytorch.global.torch_cuda");
                get = torchCuda.getMethod("getCurrentCUDAStream", byte.class);
                getCurrentStream = get;
            }
            Object cudaStream = get.invoke(null, (byte) deviceIndex);
            Method stream = streamOf;
            if (stream == null) {
                stream = cudaStream.getClass().getMethod("stream");
                streamOf = stream;
            }
            Object raw = stream.invoke(cudaStream);
            return (Pointer) raw;
        } catch (InvocationTargetException e) {
            throw new IllegalStateException("cannot get libtorch's current CUDA stream: "
                    + "at::cuda::getCurrentCUDAStream(" + deviceIndex + ") failed: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            // ClassNotFound, NoSuchMethod, ExceptionInInitializer (no jnitorch_cuda natives), NoClassDefFound,
            // UnsatisfiedLink, TypeNotPresent (no org.bytedeco:cuda on the class path)...
            throw new IllegalStateException("cannot get libtorch's current CUDA stream: the CUDA build of the "
                    + "pytorch preset and the org.bytedeco:cuda preset must be on the class path ("
                    + e + "); or set one with SasKernels.setCudaStreamSupplier", e);
        }
    }
}
