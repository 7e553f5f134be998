//! A real S3-compatible server for the storage tests: moto (from PyPI, installed by
//! `scripts/compat-setup.sh`) on `127.0.0.1`, with request signatures checked. The first
//! three requests create an IAM user with an S3 policy and an access key; from then on only
//! requests signed with that key are accepted, so wrong credentials fail as they do on AWS.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

/// The region every test bucket lives in.
pub const REGION: &str = "us-east-1";

/// A running moto server and the credentials it accepts.
pub struct Moto {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The access key id moto issued.
    pub key_id: String,
    /// Its secret.
    pub secret: String,
}

const SETUP: &str = r#"
import sys, boto3
endpoint, buckets = sys.argv[1], sys.argv[2:]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="segmint")
iam.put_user_policy(UserName="segmint", PolicyName="s3", PolicyDocument=
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}')
key = iam.create_access_key(UserName="segmint")["AccessKey"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
for bucket in buckets:
    s3.create_bucket(Bucket=bucket)
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

impl Moto {
    /// Starts moto on a free port and creates `buckets`.
    pub fn start(buckets: &[&str]) -> Moto {
        let venv = crate::compat::compat_dir().join("venv/bin");
        let server = crate::compat::require(&venv.join("moto_server"));
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut moto = Moto {
            child: Some(child),
            endpoint: endpoint.clone(),
            key_id: String::new(),
            secret: String::new(),
        };
        let out = Command::new(crate::compat::python())
            .arg("-c")
            .arg(SETUP)
            .arg(&endpoint)
            .args(buckets)
            .output()
            .expect("run the IAM setup");
        assert!(
            out.status.success(),
            "IAM setup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        moto.key_id = words.next().expect("key id").to_string();
        moto.secret = words.next().expect("secret").to_string();
        moto
    }

    /// An `object_store` client for `bucket`, for uploading test data.
    pub fn client(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_region(REGION)
                .with_bucket_name(bucket)
                .with_access_key_id(&self.key_id)
                .with_secret_access_key(&self.secret)
                .with_allow_http(true)
                .build()
                .expect("S3 client"),
        )
    }

    /// The `[[object_stores]]` entry for `bucket`, with `secret` as the secret key.
    pub fn store_config(&self, bucket: &str, secret: &str) -> segmint::config::ObjectStoreConfig {
        let options = [
            ("endpoint", self.endpoint.as_str()),
            ("region", REGION),
            ("access_key_id", self.key_id.as_str()),
            ("secret_access_key", secret),
            ("allow_http", "true"),
        ];
        segmint::config::ObjectStoreConfig {
            url: format!("s3://{bucket}"),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Stops the server (queries against it then fail).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
