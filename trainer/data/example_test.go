package data_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/pretext-dev/pretext/trainer/data"
)

// A training loop over a denoise dataset, resumed from a checkpointed state.
func Example() {
	dir, cleanup := exampleDataset()
	defer cleanup()
	ctx := context.Background()

	opts := data.DefaultOptions()
	opts.Task = "denoise"
	opts.BatchSize = 4
	opts.Epochs = 2
	l, err := data.Open(ctx, dir, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := l.Next()
	img := b.(*data.ImageBatch)
	fmt.Printf("%s: %d images of %d×%d×%d, input %d floats\n", img.Task, img.Len(), img.Height, img.Width, img.Channels, len(img.Input))

	// A checkpoint saves the state; a new loader carries on from it.
	saved, _ := json.Marshal(l.State())
	l.Close()
	var st data.State
	json.Unmarshal(saved, &st)
	opts.Resume = &st
	l, err = data.Open(ctx, dir, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	rows := img.Len()
	for {
		b, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		rows += b.Len()
	}
	fmt.Printf("%d rows in 2 epochs, resumed at epoch %d draw %d\n", rows, st.Epoch, st.Draws)

	opts.Task, opts.Resume = "mlm_nsp", nil
	_, err = data.Open(ctx, dir, opts)
	fmt.Println(err != nil)
	// Output:
	// denoise: 4 images of 8×8×3, input 768 floats
	// 20 rows in 2 epochs, resumed at epoch 0 draw 4
	// true
}

func exampleDataset() (string, func()) {
	dir, err := os.MkdirTemp("", "pretext-example-")
	if err != nil {
		panic(err)
	}
	data.WriteExampleDataset(dir)
	return dir, func() { os.RemoveAll(dir) }
}
