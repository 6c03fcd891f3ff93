// Package text holds pretext's text tasks as plain functions: BERT's
// tokenizer (BasicTokenizer + WordPiece, reproducing google-research/bert's
// tokenization.py exactly), a rule-based sentence splitter, BERT's pretraining
// instance generation (create_pretraining_data.py's algorithm with its
// same-document random-next defect fixed) and a WordPiece vocabulary learner.
// The Beam wiring lives in package pipelines.
package text
