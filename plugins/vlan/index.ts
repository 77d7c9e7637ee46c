import { pluginMain } from '../../core/src/cni/skel.js';
import { subifPlugin } from '../../core/src/cni/subif.js';

process.exitCode = await pluginMain('vlan', subifPlugin('vlan'));
