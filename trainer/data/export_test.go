package data

// WriteExampleDataset writes the denoise dataset of the package example: 10
// rows of 8×8 PNG images in two shards.
func WriteExampleDataset(dir string) { denoiseDataset(panicT{}, dir, 8, 8, "png", 6, 4) }
