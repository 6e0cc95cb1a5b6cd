"""Understanding a buyer message beyond its scenario (what replies must respect)."""
