//! formula terms (below)
