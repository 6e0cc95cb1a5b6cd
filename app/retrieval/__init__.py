"""Hybrid retrieval: BM25 over jieba terms and FAISS over embeddings, fused."""
