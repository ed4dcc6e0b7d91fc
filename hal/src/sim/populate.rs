//! The simulated device's factory configuration: a small home gateway.
//!
//! | Area | Rows |
//! |---|---|
//! | `DeviceInfo` | identity, two firmware banks (`FirmwareImage.1` active, `.2` spare) |
//! | `ManagementServer` | ACS URL, periodic inform, UDP lightweight notifications and instance wildcards supported |
//! | `LocalAgent` | Endpoint ID, one controller |
//! | `Ethernet` | `Interface.1` (WAN), `Interface.2` (LAN) and their links |
//! | `IP` | `Interface.1` (WAN, DHCP), `Interface.2` (LAN, 192.168.1.1/24) |
//! | `WiFi` | radios `1` (2.4 GHz) and `2` (5 GHz), one SSID and access point on each |
//! | `DHCPv4` | server pool `1` on the LAN |
//! | `NAT` | one interface setting, one port mapping (TCP 8080 → 192.168.1.10:80) |
//! | `Time` | one NTP client and the time zone |
//! | `QoS` | one classification (DSCP 46 for SIP) |
//! | `BulkData` | enabled, the capabilities of [`bulkdata`](crate::bulkdata) (HTTP and USP `Push!`, CSV and JSON), no profile |
//! | `Hosts`, associated Wi-Fi devices, DHCP clients, `ManagementServer.ManageableDevice` | discovered at run time from the simulated clients |
//!
//! TR-104 `Device.Services.VoiceService.` is not part of TR-181 2.19 (our schema has only the
//! empty `Device.Services.` object), so the simulated device has no voice service rather than
//! made-up paths.

use tr181_model::Error;
use tr181_model::store::Transaction;

/// Sets `path` (wire text) as the device.
fn set(txn: &mut Transaction<'_>, path: &str, value: &str) -> Result<(), Error> {
    txn.set(path, value)
}

/// Adds a row with the given values (relative names) and returns its number.
fn row(txn: &mut Transaction<'_>, table: &str, values: &[(&str, &str)]) -> Result<u32, Error> {
    txn.add(table, values)
}

/// Writes the factory configuration; the serial number and MAC addresses derive from
/// `serial`.
pub(crate) fn factory_defaults(txn: &mut Transaction<'_>, serial: &str) -> Result<(), Error> {
    // DeviceInfo
    for (name, value) in [
        ("Manufacturer", "Acme Networks"),
        ("ManufacturerOUI", "00D09E"),
        ("ModelName", "Acme HG-1"),
        ("Description", "Simulated home gateway"),
        ("ProductClass", "HG"),
        ("SerialNumber", serial),
        ("HardwareVersion", "1.0"),
        ("SoftwareVersion", "1.0.0"),
    ] {
        set(txn, &std::format!("Device.DeviceInfo.{name}"), value)?;
    }
    row(
        txn,
        "Device.DeviceInfo.FirmwareImage.",
        &[
            ("Name", "bank-a"),
            ("Version", "1.0.0"),
            ("Available", "true"),
            ("Status", "Active"),
        ],
    )?;
    row(
        txn,
        "Device.DeviceInfo.FirmwareImage.",
        &[
            ("Name", "bank-b"),
            ("Version", ""),
            ("Available", "true"),
            ("Status", "NoImage"),
        ],
    )?;
    set(
        txn,
        "Device.DeviceInfo.ActiveFirmwareImage",
        "Device.DeviceInfo.FirmwareImage.1",
    )?;

    // Management
    set(
        txn,
        "Device.ManagementServer.URL",
        "https://acs.example.net/cwmp",
    )?;
    set(txn, "Device.ManagementServer.PeriodicInformEnable", "true")?;
    set(
        txn,
        "Device.ManagementServer.PeriodicInformInterval",
        "3600",
    )?;
    set(txn, "Device.ManagementServer.Username", serial)?;
    set(txn, "Device.ManagementServer.Password", "factory-secret")?;
    // The agent can send UDP lightweight notifications (TR-069 Annex M); the ACS turns them
    // on with LightweightNotificationProtocolsUsed.
    set(
        txn,
        "Device.ManagementServer.LightweightNotificationProtocolsSupported",
        "UDP",
    )?;
    // GetParameterValues, GetParameterNames and GetParameterAttributes take `*` in place of
    // instance numbers (TR-069 Amendment 6).
    set(
        txn,
        "Device.ManagementServer.InstanceWildcardsSupported",
        "true",
    )?;
    set(
        txn,
        "Device.LocalAgent.EndpointID",
        &std::format!("os::00D09E-{serial}"),
    )?;
    row(
        txn,
        "Device.LocalAgent.Controller.",
        &[("EndpointID", "self::controller"), ("Enable", "true")],
    )?;

    // Ethernet
    row(
        txn,
        "Device.Ethernet.Interface.",
        &[
            ("Enable", "true"),
            ("Name", "eth0"),
            ("Upstream", "true"),
            ("MACAddress", "00:D0:9E:00:00:01"),
        ],
    )?;
    row(
        txn,
        "Device.Ethernet.Interface.",
        &[
            ("Enable", "true"),
            ("Name", "eth1"),
            ("MACAddress", "00:D0:9E:00:00:02"),
        ],
    )?;
    row(
        txn,
        "Device.Ethernet.Link.",
        &[
            ("Enable", "true"),
            ("Name", "wan"),
            ("LowerLayers", "Device.Ethernet.Interface.1"),
            ("MACAddress", "00:D0:9E:00:00:01"),
        ],
    )?;
    row(
        txn,
        "Device.Ethernet.Link.",
        &[
            ("Enable", "true"),
            ("Name", "lan"),
            ("LowerLayers", "Device.Ethernet.Interface.2"),
            ("MACAddress", "00:D0:9E:00:00:02"),
        ],
    )?;

    // IP
    set(txn, "Device.IP.IPv4Enable", "true")?;
    row(
        txn,
        "Device.IP.Interface.",
        &[
            ("Enable", "true"),
            ("Name", "wan"),
            ("LowerLayers", "Device.Ethernet.Link.1"),
        ],
    )?;
    row(
        txn,
        "Device.IP.Interface.",
        &[
            ("Enable", "true"),
            ("Name", "lan"),
            ("LowerLayers", "Device.Ethernet.Link.2"),
        ],
    )?;
    row(
        txn,
        "Device.IP.Interface.1.IPv4Address.",
        &[
            ("Enable", "true"),
            ("AddressingType", "DHCP"),
            ("IPAddress", "203.0.113.7"),
            ("SubnetMask", "255.255.255.0"),
        ],
    )?;
    row(
        txn,
        "Device.IP.Interface.2.IPv4Address.",
        &[
            ("Enable", "true"),
            ("AddressingType", "Static"),
            ("IPAddress", "192.168.1.1"),
            ("SubnetMask", "255.255.255.0"),
        ],
    )?;

    // Wi-Fi
    for (band, channel, name) in [("2.4GHz", "6", "wl0"), ("5GHz", "36", "wl1")] {
        row(
            txn,
            "Device.WiFi.Radio.",
            &[
                ("Enable", "true"),
                ("Name", name),
                ("OperatingFrequencyBand", band),
                ("Channel", channel),
            ],
        )?;
    }
    for (n, ssid) in [(1, "Acme-2G"), (2, "Acme-5G")] {
        let radio = std::format!("Device.WiFi.Radio.{n}");
        let mac = std::format!("00:D0:9E:00:01:0{n}");
        row(
            txn,
            "Device.WiFi.SSID.",
            &[
                ("Enable", "true"),
                ("SSID", ssid),
                ("LowerLayers", &radio),
                ("MACAddress", &mac),
                ("BSSID", &mac),
            ],
        )?;
        let ssid_ref = std::format!("Device.WiFi.SSID.{n}");
        let ap = row(
            txn,
            "Device.WiFi.AccessPoint.",
            &[
                ("Enable", "true"),
                ("SSIDReference", &ssid_ref),
                ("SSIDAdvertisementEnabled", "true"),
            ],
        )?;
        set(
            txn,
            &std::format!("Device.WiFi.AccessPoint.{ap}.Security.ModeEnabled"),
            "WPA2-Personal",
        )?;
        set(
            txn,
            &std::format!("Device.WiFi.AccessPoint.{ap}.Security.KeyPassphrase"),
            "correct-horse-battery",
        )?;
    }

    // DHCPv4 server on the LAN
    set(txn, "Device.DHCPv4.Server.Enable", "true")?;
    row(
        txn,
        "Device.DHCPv4.Server.Pool.",
        &[
            ("Enable", "true"),
            ("Interface", "Device.IP.Interface.2"),
            ("MinAddress", "192.168.1.100"),
            ("MaxAddress", "192.168.1.199"),
            ("SubnetMask", "255.255.255.0"),
            ("LeaseTime", "86400"),
        ],
    )?;

    // NAT
    row(
        txn,
        "Device.NAT.InterfaceSetting.",
        &[("Enable", "true"), ("Interface", "Device.IP.Interface.1")],
    )?;
    row(
        txn,
        "Device.NAT.PortMapping.",
        &[
            ("Enable", "true"),
            ("Interface", "Device.IP.Interface.1"),
            ("ExternalPort", "8080"),
            ("InternalPort", "80"),
            ("Protocol", "TCP"),
            ("InternalClient", "192.168.1.10"),
            ("Description", "web server"),
        ],
    )?;

    // Time
    set(txn, "Device.Time.Enable", "true")?;
    row(
        txn,
        "Device.Time.Client.",
        &[("Enable", "true"), ("Servers", "pool.ntp.org")],
    )?;
    set(
        txn,
        "Device.Time.LocalTimeZone",
        "CET-1CEST,M3.5.0,M10.5.0/3",
    )?;

    // Bulk data: what `hal::bulkdata` and the reference agent's drivers support.
    let limits = crate::bulkdata::Limits::DEFAULT;
    for (name, value) in [
        ("Enable", "true".to_string()),
        ("Status", "Enabled".to_string()),
        ("Protocols", "HTTP,MQTT,USPEventNotif".to_string()),
        ("EncodingTypes", "CSV,JSON".to_string()),
        ("ParameterWildCardSupported", "true".to_string()),
        ("MinReportingInterval", limits.min_interval.to_string()),
        ("MaxNumberOfProfiles", limits.max_profiles.to_string()),
        (
            "MaxNumberOfParameterReferences",
            limits.max_parameters.to_string(),
        ),
    ] {
        set(txn, &std::format!("Device.BulkData.{name}"), &value)?;
    }

    // QoS: mark SIP signalling as expedited forwarding.
    row(
        txn,
        "Device.QoS.Classification.",
        &[
            ("Enable", "true"),
            ("Order", "1"),
            ("DestPort", "5060"),
            ("Protocol", "17"),
            ("DSCPMark", "46"),
        ],
    )?;
    Ok(())
}
