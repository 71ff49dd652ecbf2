//! The catalogue codes that icp-audit's automated checks raise.
//!
//! Checks name their notice through these constants only, so one test can prove that every
//! code a check may raise exists in the catalogue in `findings/`.

/// 未解析至华为云服务器, 整改通知一: no resolution, or not to a Huawei Cloud address.
pub const NOT_RESOLVED_TO_CLOUD: &str = "NET-07a";
/// 网站内容无法访问.
pub const SITE_UNREACHABLE: &str = "WEB-06";
/// 未悬挂备案号或备案号未链接至工信部.
pub const FOOTER_NUMBER: &str = "WEB-04";
/// 网站名称与备案信息不符.
pub const SITE_NAME_MISMATCH: &str = "WEB-03";
/// 网站不再使用.
pub const SITE_NOT_IN_USE: &str = "WEB-05";
/// 底部未悬挂公安联网备案号.
pub const PSB_FOOTER: &str = "PSB-01";
/// 证件号码错误.
pub const ENTITY_ID_WRONG: &str = "SUBJ-03";
/// 主体负责人身份证已过有效期.
pub const PRINCIPAL_ID_EXPIRED: &str = "SUBJ-07";
/// 主体负责人联系方式不准确.
pub const PRINCIPAL_PHONE: &str = "SUBJ-08";
/// 前置审批证件已过有效期.
pub const APPROVAL_EXPIRED: &str = "NET-04";
/// 网站负责人联系方式不准确.
pub const SITE_PRINCIPAL_PHONE: &str = "NET-05";
/// 网站负责人身份证已过有效期.
pub const SITE_PRINCIPAL_ID_EXPIRED: &str = "NET-06";
/// APP包名不准确.
pub const APP_PACKAGE: &str = "APP-02";
/// APP平台信息无效.
pub const APP_PLATFORM: &str = "APP-03";
/// APP特征信息无效.
pub const APP_FEATURES: &str = "APP-04";
/// APP解析不一致.
pub const APP_RESOLUTION: &str = "APP-05";
/// 域名过期.
pub const DOMAIN_EXPIRED: &str = "NET-01";
/// 域名注册时间晚于备案时间.
pub const DOMAIN_REGISTERED_AFTER_FILING: &str = "NET-03";

/// Every code an automated check may raise.
pub const ALL: &[&str] = &[
    NOT_RESOLVED_TO_CLOUD,
    SITE_UNREACHABLE,
    FOOTER_NUMBER,
    SITE_NAME_MISMATCH,
    SITE_NOT_IN_USE,
    PSB_FOOTER,
    ENTITY_ID_WRONG,
    PRINCIPAL_ID_EXPIRED,
    PRINCIPAL_PHONE,
    APPROVAL_EXPIRED,
    SITE_PRINCIPAL_PHONE,
    SITE_PRINCIPAL_ID_EXPIRED,
    APP_PACKAGE,
    APP_PLATFORM,
    APP_FEATURES,
    APP_RESOLUTION,
    DOMAIN_EXPIRED,
    DOMAIN_REGISTERED_AFTER_FILING,
];
