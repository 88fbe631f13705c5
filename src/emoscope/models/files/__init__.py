"""Model files, apart from the architectures in ``emoscope.models``: the model card and
safetensors checkpoint, the shipped-model zoo, weight storage, ONNX export and its graphs, the
ONNX Runtime session and the one loader that picks a runtime. Architectures are built from a
card through the ``MODELS`` registry, by name."""
