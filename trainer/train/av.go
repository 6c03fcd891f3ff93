package train

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/metrics"

	"github.com/pretext-dev/pretext/trainer/data"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms/av"
)

// The audio-visual correspondence task trains the two-tower network.
func init() {
	Register(Task{Name: av.TaskCorrespond, Model: AVModel,
		Tensors: func(f Feed, b data.Batch) ([]*tensors.Tensor, []*tensors.Tensor, ConvHead, error) {
			in, lab, err := avTensors(*f.Config.AV, b)
			return in, lab, nil, err
		}})
}

// validateAV reports the bad fields of the av section, by path.
func (c Config) validateAV(bad func(path, format string, args ...any)) {
	if err := c.AV.Validate(); err != nil {
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			path, msg, _ := strings.Cut(e.Error(), ": ")
			bad("av."+path, "%s", msg)
		}
	}
}

// avModel is the two-tower correspondence model.
func avModel(a model.AV) train.ModelFn { return a.Correspond() }

// accuracyMetric is the index, in the metrics TrainStep returns, of the
// first of the run's own: GoMLX puts the batch loss and two moving averages
// of it first.
const accuracyMetric = 3

// avMetrics are an AV run's training metrics: the head's accuracy on the
// batch (logit > 0 for the frame's own audio). It is stateless, so nothing of
// it goes into checkpoints: the run keeps its moving average in State.
func avMetrics() []metrics.Interface {
	return []metrics.Interface{metrics.NewBaseMetric("Batch Accuracy", "acc", metrics.AccuracyMetricType, metrics.BinaryLogitsAccuracyGraph, nil)}
}

// addAccuracy folds a step's batch accuracy, when the metrics have one,
// into st's moving average (0.98 decay, like the loss's) and returns the
// bias-corrected average, or NaN.
func (st *State) addAccuracy(m []*tensors.Tensor) float64 {
	if len(m) <= accuracyMetric {
		return math.NaN()
	}
	st.AvgAccuracy = 0.98*st.AvgAccuracy + 0.02*scalar(m[accuracyMetric])
	return st.AvgAccuracy / (1 - math.Pow(0.98, float64(st.Step)))
}

// avTensors turns an AV batch into the model's inputs (frames [n, size,
// size, in_channels], log-mel [n, mel frames, mel bins]) and the loss's
// label ([n] float32, 1: the frame's own audio).
func avTensors(a model.AV, batch data.Batch) (in, lab []*tensors.Tensor, err error) {
	ab, ok := batch.(*data.AVBatch)
	if !ok {
		return nil, nil, fmt.Errorf("a %T, not an AV batch: the av model trains on task %s", batch, av.TaskCorrespond)
	}
	s := a.Frame.Size
	if ab.Width != s || ab.Height != s {
		return nil, nil, fmt.Errorf("%d×%d frames, the model takes %d×%d (av.frame.size; or the pipeline's image.size)", ab.Width, ab.Height, s, s)
	}
	if ab.MelFrames < 1 || ab.MelBins < 1 {
		return nil, nil, fmt.Errorf("empty log-mel windows (%d frames × %d bins)", ab.MelFrames, ab.MelBins)
	}
	n := ab.Len()
	frames := ToChannels(ab.Frame, n*s*s, ab.Channels, a.Frame.InChannels)
	y := make([]float32, n)
	for i, l := range ab.Label {
		y[i] = float32(l)
	}
	in = []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(frames, n, s, s, a.Frame.InChannels),
		tensors.FromFlatDataAndDimensions(ab.LogMel, n, ab.MelFrames, ab.MelBins),
	}
	return in, []*tensors.Tensor{tensors.FromFlatDataAndDimensions(y, n)}, nil
}
