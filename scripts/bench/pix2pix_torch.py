"""The PyTorch reference of the networks mvgen trains (a copy of the project's anchor,
shared/anchors/pix2pix_torch.py): pix2pix's published defaults, unet_256 generator (8
downsamplings, BatchNorm, dropout in the three inner ngf*8 blocks) and the 70x70 PatchGAN
(n_layers=3), for a 1-channel 256x256 spectrogram in and a 3-channel frame out.
"""
import torch
import torch.nn as nn

def block(outer, inner, sub=None, outermost=False, innermost=False, dropout=False, in_nc=None):
    in_nc = in_nc or outer
    down = [nn.Conv2d(in_nc, inner, 4, 2, 1, bias=False)]
    if outermost:
        up = [nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        model = down + [sub] + up
    elif innermost:
        up = [nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
        model = [nn.LeakyReLU(0.2, True)] + down + up
    else:
        up = [nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
        model = [nn.LeakyReLU(0.2, True)] + down + [nn.BatchNorm2d(inner), sub] + up + ([nn.Dropout(0.5)] if dropout else [])
    return Skip(nn.Sequential(*model), outermost)

class Skip(nn.Module):
    def __init__(self, m, outermost):
        super().__init__(); self.m = m; self.outermost = outermost
    def forward(self, x):
        return self.m(x) if self.outermost else torch.cat([x, self.m(x)], 1)

def unet256(in_nc=1, out_nc=3, ngf=64):
    b = block(ngf * 8, ngf * 8, innermost=True)
    for _ in range(3):
        b = block(ngf * 8, ngf * 8, b, dropout=True)
    b = block(ngf * 4, ngf * 8, b)
    b = block(ngf * 2, ngf * 4, b)
    b = block(ngf, ngf * 2, b)
    return block(out_nc, ngf, b, outermost=True, in_nc=in_nc)

def patchgan(in_nc=4, ndf=64):
    return nn.Sequential(
        nn.Conv2d(in_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 1, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 1))
