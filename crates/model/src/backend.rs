//! Where the model computes: a backend of this build (`ndarray`; `wgpu` and `tch` as Cargo
//! features) and a device of that backend, as `[train] backend` and `device` name them.

use std::fmt;
use std::str::FromStr;

/// A device as experiments write it (`[train] device`), before any backend opens it. The
/// grammar is the same in every build; which backend takes which device is
/// [`Backend::select`]'s to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceName {
    /// The backend's pick: wgpu's default adapter (high-power GPU first).
    Default,
    /// The CPU (for wgpu: a CPU adapter such as Mesa's lavapipe).
    Cpu,
    /// The n-th discrete GPU wgpu finds.
    Discrete(usize),
    /// The n-th integrated GPU wgpu finds.
    Integrated(usize),
    /// The n-th virtual GPU wgpu finds.
    Virtual(usize),
    /// libtorch's CUDA device n.
    Cuda(usize),
    /// libtorch's Metal Performance Shaders device.
    Mps,
    /// libtorch's Vulkan device.
    Vulkan,
}

const DEVICE_FORMS: &str =
    "default, cpu, discrete:N, integrated:N, virtual:N, cuda:N, mps or vulkan";

impl FromStr for DeviceName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, index) = match s.split_once(':') {
            Some((kind, n)) => {
                let n = n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n < 1024)
                    .ok_or_else(|| {
                        format!("`{s}`: the device index must be a number below 1024")
                    })?;
                (kind, Some(n))
            }
            None => (s, None),
        };
        let indexed = |f: fn(usize) -> DeviceName| Ok(f(index.unwrap_or(0)));
        let plain = |d: DeviceName| match index {
            None => Ok(d),
            Some(_) => Err(format!("`{s}`: `{kind}` takes no index")),
        };
        match kind {
            "default" => plain(DeviceName::Default),
            "cpu" => plain(DeviceName::Cpu),
            "mps" => plain(DeviceName::Mps),
            "vulkan" => plain(DeviceName::Vulkan),
            "discrete" => indexed(DeviceName::Discrete),
            "integrated" => indexed(DeviceName::Integrated),
            "virtual" => indexed(DeviceName::Virtual),
            "cuda" => indexed(DeviceName::Cuda),
            _ => Err(format!("unknown device `{s}` (devices: {DEVICE_FORMS})")),
        }
    }
}

impl fmt::Display for DeviceName {
    /// The canonical spelling (indices always written): what runs record.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceName::Default => write!(f, "default"),
            DeviceName::Cpu => write!(f, "cpu"),
            DeviceName::Discrete(n) => write!(f, "discrete:{n}"),
            DeviceName::Integrated(n) => write!(f, "integrated:{n}"),
            DeviceName::Virtual(n) => write!(f, "virtual:{n}"),
            DeviceName::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceName::Mps => write!(f, "mps"),
            DeviceName::Vulkan => write!(f, "vulkan"),
        }
    }
}

/// Why `[train] backend` / `device` cannot be used by this build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("unknown backend `{0}` (backends: ndarray, wgpu, tch)")]
    UnknownBackend(String),
    /// A known backend whose Cargo feature this build lacks.
    #[error(
        "backend `{0}` is not built into this cairn (rebuild with `cargo build --release --features {0}`)"
    )]
    NotBuilt(String),
    #[error("{0}")]
    BadDevice(String),
    /// A device this backend does not drive.
    #[error("backend `{backend}` does not run on device `{device}` (its devices: {devices})")]
    WrongDevice {
        backend: &'static str,
        device: String,
        devices: &'static str,
    },
}

/// A compute backend of this build and the device it computes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// burn-ndarray (CPU, pure Rust).
    Ndarray,
    /// burn's wgpu backend (WGSL shaders) on an adapter: `Default`, `Cpu`, `Discrete(n)`,
    /// `Integrated(n)` or `Virtual(n)` (the `wgpu` feature).
    #[cfg(feature = "wgpu")]
    Wgpu(DeviceName),
    /// libtorch through burn-tch: `Cpu`, `Cuda(n)`, `Mps` or `Vulkan` (the `tch` feature).
    #[cfg(feature = "tch")]
    Tch(DeviceName),
}

/// Written as its name on its default device (`"ndarray"`, `"wgpu"`), else
/// `"<name>:<device>"` (`"tch:cuda:0"`).
impl serde::Serialize for Backend {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let default = Backend::select(self.name(), None).ok() == Some(*self);
        if default {
            s.serialize_str(self.name())
        } else {
            s.serialize_str(&format!("{}:{}", self.name(), self.device_name()))
        }
    }
}

impl<'de> serde::Deserialize<'de> for Backend {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let (name, device) = match text.split_once(':') {
            Some((name, device)) => (name, Some(device)),
            None => (text.as_str(), None),
        };
        Backend::select(name, device).map_err(serde::de::Error::custom)
    }
}

/// The hardware a run computed on, as the backend reports it when the device opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardware {
    /// The processor or adapter, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)` or a CPU model.
    pub name: String,
    /// What else decides its numerics: the kernel target, the library and its build.
    pub detail: String,
}

impl Backend {
    /// Every backend this build has, on its default device, in a fixed order.
    pub const BUILT: &'static [Backend] = &[
        Backend::Ndarray,
        #[cfg(feature = "wgpu")]
        Backend::Wgpu(DeviceName::Default),
        #[cfg(feature = "tch")]
        Backend::Tch(DeviceName::Cpu),
    ];

    /// The backend named `name` on `device` (its default device when `None`).
    pub fn select(name: &str, device: Option<&str>) -> Result<Backend, SelectError> {
        let device = device
            .map(|d| d.parse::<DeviceName>().map_err(SelectError::BadDevice))
            .transpose()?;
        let wrong = |backend: &'static str, d: DeviceName, devices: &'static str| {
            Err(SelectError::WrongDevice {
                backend,
                device: d.to_string(),
                devices,
            })
        };
        match name {
            "ndarray" => match device.unwrap_or(DeviceName::Cpu) {
                DeviceName::Cpu => Ok(Backend::Ndarray),
                d => wrong("ndarray", d, "cpu"),
            },
            #[cfg(feature = "wgpu")]
            "wgpu" => match device.unwrap_or(DeviceName::Default) {
                d @ (DeviceName::Default
                | DeviceName::Cpu
                | DeviceName::Discrete(_)
                | DeviceName::Integrated(_)
                | DeviceName::Virtual(_)) => Ok(Backend::Wgpu(d)),
                d => wrong(
                    "wgpu",
                    d,
                    "default, cpu, discrete:N, integrated:N, virtual:N",
                ),
            },
            #[cfg(feature = "tch")]
            "tch" => match device.unwrap_or(DeviceName::Cpu) {
                d @ (DeviceName::Cpu
                | DeviceName::Cuda(_)
                | DeviceName::Mps
                | DeviceName::Vulkan) => Ok(Backend::Tch(d)),
                d => wrong("tch", d, "cpu, cuda:N, mps, vulkan"),
            },
            #[cfg(not(feature = "wgpu"))]
            "wgpu" => Err(SelectError::NotBuilt(name.to_string())),
            #[cfg(not(feature = "tch"))]
            "tch" => Err(SelectError::NotBuilt(name.to_string())),
            _ => Err(SelectError::UnknownBackend(name.to_string())),
        }
    }

    /// The name experiments use for it (`[train] backend`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Ndarray => "ndarray",
            #[cfg(feature = "wgpu")]
            Backend::Wgpu(_) => "wgpu",
            #[cfg(feature = "tch")]
            Backend::Tch(_) => "tch",
        }
    }

    /// How exactly its training repeats on the same device and thread count: `None` bit for
    /// bit (burn-ndarray: fixed reduction order, seeded), else the largest |Δ| of a weight or
    /// an output a re-run may show (GPU kernels and libtorch's may sum in another order).
    pub fn tolerance(self) -> Option<f64> {
        match self {
            Backend::Ndarray => None,
            #[cfg(feature = "wgpu")]
            Backend::Wgpu(_) => Some(1e-4),
            #[cfg(feature = "tch")]
            Backend::Tch(_) => Some(1e-4),
        }
    }

    /// Its device, canonically spelled (what a run's environment records).
    pub fn device_name(self) -> String {
        match self {
            Backend::Ndarray => DeviceName::Cpu,
            #[cfg(feature = "wgpu")]
            Backend::Wgpu(d) => d,
            #[cfg(feature = "tch")]
            Backend::Tch(d) => d,
        }
        .to_string()
    }

    pub(crate) fn device(self) -> burn::tensor::Device {
        match self {
            #[allow(deprecated)] // burn 0.22 marks ndarray deprecated in favour of flex
            Backend::Ndarray => burn::tensor::Device::ndarray(),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu(d) => {
                use burn::tensor::DeviceKind;
                burn::tensor::Device::wgpu(match d {
                    DeviceName::Cpu => DeviceKind::Cpu,
                    DeviceName::Discrete(n) => DeviceKind::DiscreteGpu(n),
                    DeviceName::Integrated(n) => DeviceKind::IntegratedGpu(n),
                    DeviceName::Virtual(n) => DeviceKind::VirtualGpu(n),
                    _ => DeviceKind::DefaultDevice,
                })
            }
            #[cfg(feature = "tch")]
            #[allow(deprecated)] // burn 0.22 marks burn-tch deprecated
            Backend::Tch(d) => match d {
                DeviceName::Cuda(n) => burn::tensor::Device::libtorch_cuda(n),
                DeviceName::Mps => burn::tensor::Device::libtorch_mps(),
                DeviceName::Vulkan => burn::tensor::Device::libtorch_vulkan(),
                _ => burn::tensor::Device::libtorch(),
            },
        }
    }

    /// Opens the device and says what it is. For wgpu that is the adapter wgpu picked and
    /// the target its kernels are compiled for; for libtorch, the library's build; for
    /// ndarray, the CPU.
    pub fn hardware(self) -> Hardware {
        match self {
            Backend::Ndarray => Hardware {
                name: cpu_model(),
                detail: format!(
                    "burn-ndarray, {} {}",
                    std::env::consts::ARCH,
                    std::env::consts::OS
                ),
            },
            #[cfg(feature = "wgpu")]
            Backend::Wgpu(_) => match self.device().identity() {
                Some(id) => Hardware {
                    name: id.name,
                    detail: format!("wgpu (WGSL), kernels for {}", id.fingerprint),
                },
                None => Hardware {
                    name: "unknown adapter".into(),
                    detail: "wgpu (WGSL)".into(),
                },
            },
            #[cfg(feature = "tch")]
            Backend::Tch(d) => {
                let mut detail = vec!["libtorch 2.9 (torch-sys 0.22)".to_string()];
                if tch::utils::has_mkl() {
                    detail.push("MKL".into());
                }
                if tch::utils::has_openmp() {
                    detail.push("OpenMP".into());
                }
                let name = match d {
                    DeviceName::Cuda(n) => {
                        detail.push(format!("CUDA runtime {}", tch::utils::version_cudart()));
                        format!("CUDA device {n}")
                    }
                    DeviceName::Cpu => cpu_model(),
                    d => d.to_string(),
                };
                Hardware {
                    name,
                    detail: detail.join(", "),
                }
            }
        }
    }
}

/// The CPU's model name as the kernel reports it, or the architecture.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_to_their_canonical_spelling() {
        for (written, canonical) in [
            ("default", "default"),
            ("cpu", "cpu"),
            ("cuda", "cuda:0"),
            ("cuda:3", "cuda:3"),
            ("discrete", "discrete:0"),
            ("integrated:1", "integrated:1"),
            ("virtual:2", "virtual:2"),
            ("mps", "mps"),
            ("vulkan", "vulkan"),
        ] {
            let d: DeviceName = written.parse().expect(written);
            assert_eq!(d.to_string(), canonical);
            assert_eq!(canonical.parse::<DeviceName>(), Ok(d));
        }
        for bad in ["gpu", "cuda:x", "cpu:1", "cuda:-1", "cuda:99999", ""] {
            assert!(bad.parse::<DeviceName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn select_takes_only_the_backends_own_devices() {
        assert_eq!(Backend::select("ndarray", None), Ok(Backend::Ndarray));
        assert_eq!(
            Backend::select("ndarray", Some("cpu")),
            Ok(Backend::Ndarray)
        );
        let e = Backend::select("ndarray", Some("cuda:0")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "backend `ndarray` does not run on device `cuda:0` (its devices: cpu)"
        );
        assert!(matches!(
            Backend::select("cuda", None),
            Err(SelectError::UnknownBackend(_))
        ));
        assert!(matches!(
            Backend::select("ndarray", Some("gpu")),
            Err(SelectError::BadDevice(_))
        ));
        #[cfg(not(feature = "wgpu"))]
        assert_eq!(
            Backend::select("wgpu", Some("default")),
            Err(SelectError::NotBuilt("wgpu".into()))
        );
        #[cfg(feature = "wgpu")]
        {
            assert_eq!(
                Backend::select("wgpu", Some("discrete")),
                Ok(Backend::Wgpu(DeviceName::Discrete(0)))
            );
            assert!(Backend::select("wgpu", Some("cuda:0")).is_err());
        }
        #[cfg(feature = "tch")]
        {
            assert_eq!(
                Backend::select("tch", Some("cuda:1")),
                Ok(Backend::Tch(DeviceName::Cuda(1)))
            );
            assert!(Backend::select("tch", Some("discrete:0")).is_err());
        }
    }

    #[test]
    fn backends_serialize_as_their_name_and_device() {
        assert_eq!(
            serde_json::to_string(&Backend::Ndarray).expect("json"),
            "\"ndarray\""
        );
        assert_eq!(
            serde_json::from_str::<Backend>("\"ndarray\"").expect("back"),
            Backend::Ndarray
        );
        #[cfg(feature = "tch")]
        {
            let b = Backend::Tch(DeviceName::Cuda(1));
            assert_eq!(serde_json::to_string(&b).expect("json"), "\"tch:cuda:1\"");
            assert_eq!(
                serde_json::from_str::<Backend>("\"tch:cuda:1\"").expect("back"),
                b
            );
        }
        assert!(serde_json::from_str::<Backend>("\"ndarray:cuda:0\"").is_err());
    }

    #[test]
    fn every_built_backend_names_its_hardware() {
        for b in Backend::BUILT {
            let h = b.hardware();
            assert!(!h.name.is_empty() && !h.detail.is_empty(), "{b:?}: {h:?}");
        }
    }
}
