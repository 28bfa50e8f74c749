"""The data model: `Sequence`, `SequenceIndex`, frame and mask reading, and the context crop."""
