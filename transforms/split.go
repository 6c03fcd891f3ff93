package transforms

// Split assigns each key to train, val or test by a hash of the key alone, so
// an image stays in its split across tasks, seeds and runs.
type Split struct {
	Train float64 `yaml:"train" json:"train"`
	Val   float64 `yaml:"val" json:"val"`
	Test  float64 `yaml:"test" json:"test"`
}

// DefaultSplit is 98% train, 1% val, 1% test.
func DefaultSplit() Split { return Split{Train: 0.98, Val: 0.01, Test: 0.01} }
