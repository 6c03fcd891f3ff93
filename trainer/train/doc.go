// Package train pretrains on pretext's shards: a small convolutional
// encoder–decoder (trainer/model) learns denoise, inpaint or colorize (RGB,
// block ab or ab bins) from one or several dataset folders, one batch of
// each in turn; a small BERT learns MLM + NSP from mlm_nsp shards; a
// two-tower network learns audio-visual correspondence from av_correspond
// shards.
//
// A run saves a checkpoint every Schedule.CheckpointEvery steps and at the
// end: the variables (weights, Adam's moments and step) and the run's State
// (the step, every loader's position, the configuration) as a context
// parameter in the same files, so that they can't disagree. Starting a run
// whose output folder has a checkpoint resumes from the last one and reaches
// the weights an uninterrupted run would have reached. The loss curve is
// written beside the checkpoints as CSV (with the head's accuracy for
// av_correspond) and PNG.
package train
