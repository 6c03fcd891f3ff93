package text

import (
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// TaskMLMNSP is the name of BERT's masked-LM + next-sentence task.
const TaskMLMNSP = "mlm_nsp"

// The BERT pretraining task registers itself: its rows are made by
// CreateInstances inside the text pipeline (pipelines.Text).
func init() {
	transforms.Register(transforms.Task{
		Name: TaskMLMNSP, Modality: "text",
		Doc:       "BERT masked-LM + next-sentence pairs: [CLS] A [SEP] B [SEP], masked positions and ids (create_pretraining_data.py)",
		NewConfig: func() transforms.Config { c := DefaultInstanceConfig(); return &c },
		Format:    sinks.FormatOf[sinks.MLMRow](),
		Impl:      CreateInstances,
	})
}
