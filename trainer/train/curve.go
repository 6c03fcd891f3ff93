package train

import (
	"encoding/csv"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"math"
	"os"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// point is one step of the loss curve.
type point struct {
	Step           int
	Task           string
	Loss, Avg      float64
	ExamplesPerSec float64
	Elapsed        float64
	// Accuracy is the head's moving-average accuracy (av_correspond), NaN
	// for tasks without one (an empty CSV cell).
	Accuracy float64
}

var csvHeader = []string{"step", "task", "loss", "avg_loss", "examples_per_s", "elapsed_s", "accuracy"}

// readCurve reads the loss curve of a run up to step upTo (the checkpoint a
// resumed run starts from: later rows were not kept in any checkpoint). A
// missing file is an empty curve.
func readCurve(path string, upTo int) ([]point, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) || upTo == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	var out []point
	for i, r := range recs {
		// Curves written before the accuracy column have one field less.
		if i == 0 || len(r) < len(csvHeader)-1 || len(r) > len(csvHeader) {
			continue
		}
		p := point{Accuracy: math.NaN()}
		var errs [6]error
		p.Step, errs[0] = strconv.Atoi(r[0])
		p.Task = r[1]
		p.Loss, errs[1] = strconv.ParseFloat(r[2], 64)
		p.Avg, errs[2] = strconv.ParseFloat(r[3], 64)
		p.ExamplesPerSec, errs[3] = strconv.ParseFloat(r[4], 64)
		p.Elapsed, errs[4] = strconv.ParseFloat(r[5], 64)
		if len(r) == len(csvHeader) && r[6] != "" {
			p.Accuracy, errs[5] = strconv.ParseFloat(r[6], 64)
		}
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("train: %s, line %d: %w", path, i+1, err)
		}
		if p.Step <= upTo {
			out = append(out, p)
		}
	}
	return out, nil
}

// writeCurve writes the curve as CSV, under a temporary name then renamed.
func writeCurve(path string, curve []point) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	w := csv.NewWriter(f)
	w.Write(csvHeader)
	for _, p := range curve {
		acc := ""
		if !math.IsNaN(p.Accuracy) {
			acc = ff(p.Accuracy)
		}
		w.Write([]string{strconv.Itoa(p.Step), p.Task, ff(p.Loss), ff(p.Avg), ff(p.ExamplesPerSec), ff(p.Elapsed), acc})
	}
	w.Flush()
	err = w.Error()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("train: %s: %w", path, err)
	}
	return nil
}

func ff(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// plotCurve draws each task's loss against the step, as PNG.
func plotCurve(path string, curve []point) error {
	if len(curve) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = "pretraining loss"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss"
	byTask := map[string]plotter.XYs{}
	for _, pt := range curve {
		byTask[pt.Task] = append(byTask[pt.Task], plotter.XY{X: float64(pt.Step), Y: pt.Loss})
	}
	tasks := make([]string, 0, len(byTask))
	for t := range byTask {
		tasks = append(tasks, t)
	}
	sort.Strings(tasks)
	palette := []color.Color{
		color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255},
		color.RGBA{44, 160, 44, 255}, color.RGBA{214, 39, 40, 255},
	}
	for i, t := range tasks {
		l, err := plotter.NewLine(byTask[t])
		if err != nil {
			return fmt.Errorf("train: plot: %w", err)
		}
		l.Color = palette[i%len(palette)]
		p.Add(l)
		p.Legend.Add(t, l)
	}
	p.Add(plotter.NewGrid())
	tmp := path + ".tmp.png"
	if err := p.Save(8*vg.Inch, 4*vg.Inch, tmp); err != nil {
		return fmt.Errorf("train: plot: %w", err)
	}
	return os.Rename(tmp, path)
}
