"""Model → file converters: the torch→Keras twin, TFLite (fp32/int8/batch 1), ExecuTorch, ONNX,
MediaPipe, the Arm backend (Ethos-U / TOSA), the Vela compiler, and programs that train on the device."""
