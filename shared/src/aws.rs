//! The AWS SDK's shared configuration, built one way for every AWS client of the platform (the
//! object store, the live channel's management API): a region, and static keys for an endpoint
//! outside AWS (a local store, a stand-in), or else the standard credential chain (the Lambda
//! role in production).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;

use crate::config::Secret;

/// The configuration a client of `region` is built from, once per process.
pub async fn sdk_config(region: &str, static_credentials: Option<&(String, Secret)>) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_owned()));
    if let Some((id, secret)) = static_credentials {
        loader = loader.credentials_provider(Credentials::new(
            id,
            secret.expose(),
            None,
            None,
            "static",
        ));
    }
    loader.load().await
}
