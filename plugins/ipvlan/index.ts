import { pluginMain } from '@tsnet/core/plugin';
import { subifPlugin } from '@tsnet/core/plugin';

process.exitCode = await pluginMain('ipvlan', subifPlugin('ipvlan'));
