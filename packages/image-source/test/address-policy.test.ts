import { AddressPolicy, blockedRange, ImageSourceError } from '../src';

describe('blockedRange', () => {
  it.each([
    ['8.8.8.8'],
    ['1.1.1.1'],
    ['93.184.216.34'],
    ['2606:4700:4700::1111'],
    ['2a00:1450:4001:80b::200e'],
    ['::ffff:8.8.8.8'],
    ['64:ff9b::808:808'], // NAT64 of 8.8.8.8
    ['2002:808:808::1'], // 6to4 of 8.8.8.8
  ])('lets the public address %s through', (address) => {
    expect(blockedRange(address)).toBeNull();
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['169.254.169.254', 'linkLocal'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::a00:1', 'rfc6052(private)'],
    ['2002:a00:1::', '6to4(private)'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'teredo'],
    ['64:ff9b:1::a00:1', 'localNat64'],
  ])('refuses %s (%s)', (address, range) => {
    expect(blockedRange(address)).toBe(range);
  });
});

describe('AddressPolicy', () => {
  it('refuses everything non-public by default and allows public addresses', () => {
    const policy = new AddressPolicy();
    expect(policy.guardEnabled).toBe(true);
    expect(policy.refusalFor('10.0.0.1')).toBe('private');
    expect(policy.refusalFor('8.8.8.8')).toBeNull();
    expect(() => policy.assertHostAllowed('169.254.169.254')).toThrow(ImageSourceError);
    expect(() => policy.assertHostAllowed('[::1]')).toThrow(/loopback/);
    expect(() => policy.assertHostAllowed('Metadata.Google.Internal.')).toThrow(/metadata/);
    expect(() => policy.assertHostAllowed('images.example.com')).not.toThrow(); // checked once resolved
  });

  it('allowlists host names, wildcard suffixes, addresses and CIDR ranges', () => {
    const policy = new AddressPolicy({
      allowedHosts: [
        'images.intranet',
        '*.cdn.intranet',
        '10.20.0.0/16',
        '192.168.1.7',
        'fd12::/16',
        '::ffff:172.16.0.0/112',
      ],
    });
    expect(policy.isHostAllowlisted('IMAGES.intranet.')).toBe(true);
    expect(policy.isHostAllowlisted('a.cdn.intranet')).toBe(true);
    expect(policy.isHostAllowlisted('cdn.intranet')).toBe(false);
    expect(policy.isHostAllowlisted('evilimages.intranet')).toBe(false);
    expect(policy.refusalFor('10.20.3.4')).toBeNull();
    expect(policy.refusalFor('::ffff:10.20.3.4')).toBeNull();
    expect(policy.refusalFor('10.21.0.1')).toBe('private');
    expect(policy.refusalFor('192.168.1.7')).toBeNull();
    expect(policy.refusalFor('192.168.1.8')).toBe('private');
    expect(policy.refusalFor('fd12:3456::1')).toBeNull();
    expect(policy.refusalFor('fd13::1')).toBe('uniqueLocal');
    expect(policy.refusalFor('172.16.0.9')).toBeNull();
    expect(policy.refusalFor('172.17.0.1')).toBe('private');
    expect(() => policy.assertHostAllowed('metadata.google.internal')).toThrow(/metadata/);
  });

  it('lets everything through with allowPrivateNetworks', () => {
    const policy = new AddressPolicy({ allowPrivateNetworks: true });
    expect(policy.guardEnabled).toBe(false);
    expect(policy.refusalFor('169.254.169.254')).toBeNull();
    expect(() => policy.assertHostAllowed('metadata.google.internal')).not.toThrow();
  });

  it.each([[''], ['10.0.0.0/33'], ['not a host!'], ['*.'], ['http://example.com']])(
    'rejects the allowlist entry %p',
    (entry) => {
      expect(() => new AddressPolicy({ allowedHosts: [entry] })).toThrow(
        expect.objectContaining({ code: 'SOURCE_BAD_OPTIONS' }),
      );
    },
  );
});
