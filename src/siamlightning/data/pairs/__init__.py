"""The training pair pipeline: sampling, decoding and cropping, augmentation, the DataModule."""
