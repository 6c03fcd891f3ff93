// Package train pretrains the image models on pretext's shards: a small
// convolutional encoder–decoder (trainer/model) learns denoise, inpaint or
// colorize from one or several dataset folders, one batch of each in turn.
//
// A run saves a checkpoint every Schedule.CheckpointEvery steps and at the
// end: the variables (weights, Adam's moments and step) and the run's State
// (the step, every loader's position, the configuration) as a context
// parameter in the same files, so that they can't disagree. Starting a run
// whose output folder has a checkpoint resumes from the last one and reaches
// the weights an uninterrupted run would have reached. The loss curve is
// written beside the checkpoints as CSV and PNG.
package train
