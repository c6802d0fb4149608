"""Deployment: ONNX export of trained models, its checks, INT8 quantisation, ONNX Runtime timing."""
