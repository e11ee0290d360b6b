"""Embedded models: tiny CLIP and multimodal LLM built from configs and trained on the world."""
