// Package train pretrains on pretext's shards: a small convolutional
// encoder (trainer/model) learns the image tasks — denoise, inpaint,
// colorize (RGB, block ab or ab bins) — from one or several dataset
// folders, one batch of each in turn, with a head per task on the shared
// encoder; a small BERT learns MLM + NSP from mlm_nsp shards; a two-tower
// network learns audio-visual correspondence from av_correspond shards.
//
// # Tasks
//
// The run names no task. A task's trainer side is a Task, registered once
// (Register) from the task's own file of this package, keyed by the name
// the modality package exports (vision.TaskDenoise, text.TaskMLMNSP, …):
// the network it trains (a Model: the config's model:, bert: or av:
// section), the values its dataset entries may give target and region,
// whether they name a vocabulary, and Tensors, which turns a batch of its
// loader into the network's inputs and labels and, for the conv model, the
// ConvHead that batch trains. Config validation, the choice of network,
// each step's tensors, the list of tasks in errors (Tasks) and the
// vocabulary check all go through the registry. The task's loader side is
// registered with data.Register, beside its code.
//
// The conv model's graph is the encoder and the batch's ConvHead, which is
// also the graph's spec: GoMLX compiles one graph per head, and the loss
// is the head's. The heads here are a decoder to an image or a grid
// (regression with the dataset's L1/L2 loss: denoise, inpaint, colorize's
// rgb and ab), logits per grid cell (colorize's bins) and an image
// classifier on the features' spatial mean (classHead, with softmax
// cross-entropy), each in a scope of its own.
//
// # Adding a task
//
// A new task's trainer side is one new file in this package, whose init
// registers both sides. For an image classification task such as rotation
// prediction (the input turned by k quarter turns, the label k):
//
//	func init() {
//		data.Register(vision.TaskRotation, data.Rows[vision.RotationRow]{
//			Key:   func(r *vision.RotationRow) string { return r.Key },
//			Split: func(r *vision.RotationRow) string { return r.Split },
//			Batcher: data.ImageBatcher(vision.TaskRotation, func(r *vision.RotationRow) data.ImageRow {
//				return data.ImageRow{Key: r.Key, Variant: r.Variant, Width: r.Width, Height: r.Height,
//					Encoding: r.Encoding, Input: r.Input, InputChannels: 3}
//			}, func(b *data.ImageBatch, rows []vision.RotationRow) error {
//				b.Class = make([]int32, len(rows))
//				for i := range rows {
//					b.Class[i] = rows[i].Rotation
//				}
//				return nil
//			}),
//		})
//		Register(Task{Name: vision.TaskRotation, Model: ConvModel,
//			Tensors: func(f Feed, b data.Batch) ([]*tensors.Tensor, []*tensors.Tensor, ConvHead, error) {
//				ib, in, err := imageInput(f.Config.Model, b)
//				if err != nil {
//					return nil, nil, nil, err
//				}
//				lab, err := classLabels(ib, 4)
//				return in, lab, classHead{scope: "head_" + vision.TaskRotation, classes: 4}, err
//			}})
//	}
//
// TestClassificationTask trains such a task, registered from its test file.
//
// # Checkpoints
//
// A run saves a checkpoint every Schedule.CheckpointEvery steps and at the
// end: the variables (weights, Adam's moments and step) and the run's State
// (the step, every loader's position, the configuration) as a context
// parameter in the same files, so that they can't disagree. Starting a run
// whose output folder has a checkpoint resumes from the last one and reaches
// the weights an uninterrupted run would have reached. The loss curve is
// written beside the checkpoints as CSV (with the head's accuracy for
// av_correspond) and PNG.
//
// A text dataset's vocabulary (data[i].vocab) is loaded with text.LoadVocab
// and must have the sha256 its manifest records as vocab_sha256: token ids
// read with another vocabulary would train on the wrong words silently.
package train
