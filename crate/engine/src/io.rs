//! safetensors (below)
