// Package audio makes the inputs and pseudo-labels of the audio pretext
// tasks from WAV files: decoding, resampling, log-mel spectrograms, and
// masked spectrogram modelling (task audio_mask, after SpecAugment, Park et
// al. 2019).
//
// The logic is plain functions on plain values. DecodeWAV turns file bytes
// into a mono Clip (or a *transforms.InputError with a stable reason code, which the
// pipeline turns into a dead letter); Resample brings it to the feature
// rate; Mel.Compute makes the log-mel spectrogram; ApplyMask makes one
// masked variant of it. Every random choice comes from the *rand.Rand the
// caller passes in (seeded per element by package seeding). The run's audio
// section is Options (options.go). An audio task is an audio.Labeler
// (label.go): Cut cuts a decoded input into clips (Examples, with their
// log-mel), and Labelers labels each clip for every audio task of a run,
// all or nothing; audio_mask's labeler and registration live in
// masktask.go and task.go. Arithmetic is float64 in a fixed order with products rounded before they are added, so
// no compiler fuses them into FMA instructions; only the FFT (gonum's
// fftpack) is outside that rule.
//
// Defaults and why:
//
//   - Decoding (DefaultLimits): clips up to 10 minutes at 48 kHz and rates
//     up to 768 kHz. Longer clips are dead-lettered as too_long before their
//     samples are allocated; channels are averaged to mono, the input of
//     every common audio front end.
//   - Resampling: a Kaiser-windowed sinc with its stopband starting at the
//     lower Nyquist frequency and 80 dB design attenuation (at least 60 dB
//     of alias and image rejection is asserted by the tests), passband flat
//     to 94% of that Nyquist (7.52 kHz at 16 kHz, above the mel filterbank's
//     7.5 kHz top), polyphase for the rational ratio to/from.
//   - Log-mel (DefaultMel): VGGish/AudioSet's front end (Hershey et al.
//     2017), the most widely used pretrained audio features, so a model
//     trained on these labels can be compared with or initialised from it:
//     16 kHz, 25 ms periodic Hann window (400 samples) zero-padded to a
//     512-point FFT, 10 ms hop (160), 64 HTK-mel bands from 125 to 7500 Hz
//     on the magnitude spectrum, log(mel + 0.01).
//   - Masking (DefaultMask): 10–30% of frames in up to two spans and 10–30%
//     of bands in up to two spans, about SpecAugment's LD policy, filled
//     with the clip's mean log-mel, stated as total shares so the realised
//     share is exactly in range.
package audio
