"""Model → file converters: the torch→Keras twin, TFLite (fp32/int8/batch 1), ExecuTorch, ONNX,
MediaPipe, the Arm backend (Ethos-U / TOSA / partner partitioners) and the Vela compiler."""
