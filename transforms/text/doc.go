// Package text holds pretext's text tasks and what they share: BERT's
// tokenizer (BasicTokenizer + WordPiece, reproducing google-research/bert's
// tokenization.py exactly), a rule-based sentence splitter, the vocabulary
// loader, BERT's pretraining instance generation (create_pretraining_data.py's
// algorithm with its same-document random-next defect fixed) and a
// WordPiece vocabulary learner.
//
// A text task is a Labeler registered as its transforms.Task.Impl (mlm.go
// registers mlm_nsp): it turns one tokenized document and the other
// documents of its group into rows. The Beam wiring (reading, tokenizing
// once, grouping, one writer per task) lives in package pipelines, which
// calls every text task through Labelers.
package text
