//! Building blocks the encoders and the network share (a leaf).

use burn::module::{Param, ParamId};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Lazy placeholder; its value is always replaced by `net::Setter` before use.
pub(crate) fn placeholder<const D: usize>(shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::uninitialized(
        ParamId::from(0),
        move |device: &Device, _| Tensor::<D>::zeros(shape, device),
        device.clone(),
        true,
        shape.into(),
    )
}

/// Inverted dropout with a mask drawn from `rng` (no-op when `rng` is `None` or `p` is 0).
pub(crate) fn apply_dropout<const D: usize>(
    x: Tensor<D>,
    p: f64,
    rng: Option<&mut ChaCha8Rng>,
    device: &Device,
) -> Tensor<D> {
    let Some(rng) = rng else { return x };
    if p <= 0.0 {
        return x;
    }
    let shape = x.dims();
    let n: usize = shape.iter().product();
    let keep = 1.0 - p;
    let scale = (1.0 / keep) as f32;
    let mask: Vec<f32> = (0..n)
        .map(|_| {
            if rng.random::<f64>() < keep {
                scale
            } else {
                0.0
            }
        })
        .collect();
    x * Tensor::<D>::from_data(TensorData::new(mask, shape), device)
}
